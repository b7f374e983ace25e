/**
 * MDX → static HTML: compiled with mdx-bundler (GitHub tables, KaTeX math, highlighted code),
 * rendered once at build time with React; headings get ids and form the page's contents.
 */
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { bundleMDX } from 'mdx-bundler';
import { getMDXComponent } from 'mdx-bundler/dist/client/index.js';
import rehypeHighlight from 'rehype-highlight';
import rehypeKatex from 'rehype-katex';
import remarkGfm from 'remark-gfm';
import remarkMath from 'remark-math';
import { keepNumbersTogether } from '../client/text.js';
import { MDX_COMPONENTS } from './components.js';

/** A heading of a page, for its table of contents and the search index. */
export interface Heading {
  depth: number;
  id: string;
  text: string;
}

interface HastNode {
  type: string;
  tagName?: string;
  value?: string;
  properties?: Record<string, unknown>;
  children?: HastNode[];
}

const textOf = (node: HastNode): string =>
  node.type === 'text' ? (node.value ?? '') : (node.children ?? []).map(textOf).join('');

/** URL fragment for a heading: lower case words joined by '-'. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-|-$/g, '');
}

/** rehype plugin: ids on h1-h3 (unique per page), collected into `headings`. */
function collectHeadings(headings: Heading[]) {
  return () => (tree: HastNode) => {
    const seen = new Map<string, number>();
    const visit = (node: HastNode) => {
      const depth = /^h([1-3])$/.exec(node.tagName ?? '')?.[1];
      if (node.type === 'element' && depth !== undefined) {
        const text = textOf(node).trim();
        const base = slugify(text) || 'section';
        const count = seen.get(base) ?? 0;
        seen.set(base, count + 1);
        const id = count === 0 ? base : `${base}-${count}`;
        node.properties = { ...node.properties, id };
        headings.push({ depth: Number(depth), id, text });
      }
      node.children?.forEach(visit);
    };
    visit(tree);
  };
}

/** rehype plugin: code blocks and tables can scroll sideways, so keyboard users must be able to focus them. */
function focusableScrollers() {
  return (tree: HastNode) => {
    const visit = (node: HastNode) => {
      if (node.type === 'element' && (node.tagName === 'pre' || node.tagName === 'table'))
        node.properties = { ...node.properties, tabIndex: 0 };
      node.children?.forEach(visit);
    };
    visit(tree);
  };
}

/** rehype plugin: {@link keepNumbersTogether} on the text outside code. */
function numbersTogether() {
  return (tree: HastNode) => {
    const visit = (node: HastNode) => {
      if (node.type === 'text') node.value = keepNumbersTogether(node.value ?? '');
      if (node.tagName !== 'code' && node.tagName !== 'pre') node.children?.forEach(visit);
    };
    visit(tree);
  };
}

/**
 * rehype plugin: every link's href through `link`; where it answers undefined, the link is
 * replaced by its text (e.g. a file of the repository that the site does not serve).
 */
function rewriteLinks(link: (href: string) => string | undefined) {
  return () => (tree: HastNode) => {
    const visit = (node: HastNode) => {
      if (node.children === undefined) return;
      node.children = node.children.flatMap((child) => {
        visit(child);
        const href = child.properties?.['href'];
        if (child.type !== 'element' || child.tagName !== 'a' || typeof href !== 'string') {
          return [child];
        }
        const target = link(href);
        if (target === undefined) return child.children ?? [];
        child.properties = { ...child.properties, href: target };
        return [child];
      });
    };
    visit(tree);
  };
}

/** Options of {@link renderMdx}. */
export interface MdxOptions {
  /** Where each link leads in the site; undefined turns the link into its text. */
  link?: (href: string) => string | undefined;
}

/**
 * Compiles `source` (MDX using the components of ./components.tsx) to HTML; `components`
 * replaces some of them (e.g. a demo bound to the data the build prepared for it).
 */
export async function renderMdx(
  source: string,
  name: string,
  components: Partial<typeof MDX_COMPONENTS> = {},
  { link }: MdxOptions = {},
): Promise<{ html: string; headings: Heading[] }> {
  const headings: Heading[] = [];
  const { code } = await bundleMDX({
    source,
    mdxOptions(options) {
      options.remarkPlugins = [...(options.remarkPlugins ?? []), remarkGfm, remarkMath];
      options.rehypePlugins = [
        ...(options.rehypePlugins ?? []),
        [rehypeKatex, { output: 'htmlAndMathml' }],
        [rehypeHighlight, { detect: false }],
        collectHeadings(headings),
        focusableScrollers,
        numbersTogether,
        ...(link === undefined ? [] : [rewriteLinks(link)]),
      ];
      return options;
    },
  }).catch((error: unknown) => {
    throw new Error(
      `${name}: MDX does not compile: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const Page = getMDXComponent(code);
  return {
    html: renderToStaticMarkup(
      createElement(Page, { components: { ...MDX_COMPONENTS, ...components } }),
    ),
    headings,
  };
}
