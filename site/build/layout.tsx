/**
 * The page shell shared by every page: header (home, search, theme), navigation, the page's
 * contents list, footer, and one module script that loads the rest on demand.
 */
import type { ReactNode } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import type { Heading } from './mdx.js';

export interface NavEntry {
  href: string;
  title: string;
}

export interface PageProps {
  title: string;
  description: string;
  /** This page's file, relative to the site root (e.g. `01-binarization.html`). */
  path: string;
  nav: NavEntry[];
  headings: Heading[];
  /** The page's HTML (trusted: built from the repository's notebooks and results). */
  html: string;
  /** Elements after the content (e.g. the cells' browser code as JSON). */
  after?: ReactNode;
}

/** Sets the saved theme before the first paint (no flash of the wrong theme). */
const THEME_SCRIPT =
  "try{var t=localStorage.getItem('bireal-theme');if(t)document.documentElement.dataset.theme=t}catch(e){}";

function Contents({ headings }: { headings: Heading[] }) {
  const entries = headings.filter((h) => h.depth === 2);
  if (entries.length === 0) return null;
  return (
    <nav className="toc" aria-label="On this page">
      <h2>On this page</h2>
      <ul>
        {entries.map((h) => (
          <li key={h.id}>
            <a href={`#${h.id}`}>{h.text}</a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** The complete HTML document of one page. */
export function renderPage(props: PageProps): string {
  const base = '../'.repeat(props.path.split('/').length - 1) || './';
  const body = (
    <html lang="en" data-base={base}>
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.path === 'index.html' ? props.title : `${props.title} · bireal`}</title>
        <meta name="description" content={props.description} />
        <link rel="icon" href={`${base}assets/favicon.svg`} type="image/svg+xml" />
        <link rel="stylesheet" href={`${base}assets/katex/katex.min.css`} />
        <link rel="stylesheet" href={`${base}assets/site.css`} />
        <script dangerouslySetInnerHTML={{ __html: THEME_SCRIPT }} />
        <script type="module" src={`${base}assets/js/main.js`} />
      </head>
      <body>
        <a className="skip-link" href="#content">
          Skip to content
        </a>
        <header className="site-header">
          <button
            type="button"
            className="menu-toggle"
            aria-controls="site-nav"
            aria-expanded="false"
          >
            Menu
          </button>
          <a className="brand" href={`${base}index.html`}>
            bireal
          </a>
          <form className="search" role="search">
            <label htmlFor="search-input" className="visually-hidden">
              Search the tutorials
            </label>
            <input
              id="search-input"
              type="search"
              placeholder="Search…"
              autoComplete="off"
              aria-controls="search-results"
            />
            <ul id="search-results" className="search-results" hidden aria-label="Search results" />
          </form>
          <button
            type="button"
            className="theme-toggle"
            aria-label="Switch between light and dark theme"
          >
            ◐ <span className="theme-label">Theme</span>
          </button>
        </header>
        <div className="layout">
          <nav id="site-nav" className="site-nav" aria-label="Tutorials">
            <ul>
              {props.nav.map((entry) => (
                <li key={entry.href}>
                  <a
                    href={`${base}${entry.href}`}
                    aria-current={entry.href === props.path ? 'page' : undefined}
                  >
                    {entry.title}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <main id="content" tabIndex={-1}>
            <article dangerouslySetInnerHTML={{ __html: props.html }} />
            {props.after}
          </main>
          <Contents headings={props.headings} />
        </div>
        <footer className="site-footer">
          <p>
            bireal: Bi-Real Net (Liu et al., ECCV 2018) in TypeScript on TensorFlow.js. Pages are
            generated from the notebooks in <code>notebooks/</code>; stored outputs come from their
            last full run.
          </p>
        </footer>
      </body>
    </html>
  );
  return `<!doctype html>\n${renderToStaticMarkup(body)}\n`;
}
