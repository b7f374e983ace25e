/**
 * Client-side search over every page's sections (the API reference's exports among them): the
 * MiniSearch index built with the site (search-index.json) loads when the reader first focuses
 * the search field. Each hit shows its section's title, and the page's when that differs.
 */
import MiniSearch from 'minisearch';
import { siteBase } from './base.js';
import { element } from './dom.js';

/** One searchable section (site/build/search.ts writes them). */
export interface SearchDocument {
  id: string;
  page: string;
  title: string;
  text: string;
}

export const SEARCH_OPTIONS = {
  fields: ['title', 'page', 'text'],
  storeFields: ['title', 'page'],
  searchOptions: { boost: { title: 3, page: 1.5 }, prefix: true, fuzzy: 0.2 },
};

let index: Promise<MiniSearch<SearchDocument>> | undefined;

function load(): Promise<MiniSearch<SearchDocument>> {
  index ??= fetch(new URL(`${siteBase()}search-index.json`, document.baseURI)).then(async (r) =>
    MiniSearch.loadJSON<SearchDocument>(await r.text(), SEARCH_OPTIONS),
  );
  return index;
}

/** Wires the header's search field to its result list. */
export function setUpSearch(input: HTMLInputElement, list: HTMLElement): void {
  input.addEventListener('focus', () => void load(), { once: true });
  input.addEventListener('input', async () => {
    const query = input.value.trim();
    if (query === '') {
      list.hidden = true;
      return;
    }
    const hits = (await load()).search(query).slice(0, 8);
    list.replaceChildren(
      ...(hits.length === 0
        ? [Object.assign(document.createElement('li'), { textContent: 'No matches' })]
        : hits.map((hit) => {
            const [title, page] = [String(hit['title']), String(hit['page'])];
            const item = document.createElement('li');
            const link = item.appendChild(
              element('a', '', title, { href: `${siteBase()}${hit.id}` }),
            );
            if (page !== title) link.append(element('span', 'search-page', page));
            return item;
          })),
    );
    list.hidden = false;
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') list.hidden = true;
    if (event.key === 'ArrowDown') list.querySelector('a')?.focus();
  });
}
