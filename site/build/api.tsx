/**
 * The API reference: one page of the site per entry point of the package (`bireal` at
 * `api/index.html`, `bireal/notebook` at `api/notebook.html`), read by TypeDoc from the doc
 * comments in src/ and rendered here into the site's own pages (header, search, theme): each
 * export's signatures, parameters, return value and the notebook sections that use it.
 */
import { resolve } from 'node:path';
import { marked } from 'marked';
import type { ReactNode } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import {
  Application,
  LogLevel,
  OptionDefaults,
  ReflectionKind,
  type CommentDisplayPart,
  type DeclarationReflection,
  type ProjectReflection,
  type Reflection,
  type SignatureReflection,
  type TypeDocOptions,
} from 'typedoc';
import { apiHref } from './components.js';
import type { Heading } from './mdx.js';
import type { ApiModule, ApiUse } from './notebook-mdx.js';

/** The entry points; their `@module` tags name them `bireal` and `bireal/notebook`. */
const ENTRY_POINTS = ['src/index.ts', 'src/notebook/index.ts'];

/**
 * TypeDoc's options. Paths are relative to the working directory, the repository root (as in
 * npm scripts).
 */
const OPTIONS: TypeDocOptions = {
  entryPoints: ENTRY_POINTS,
  tsconfig: 'tsconfig.json',
  // Only what the entry points export: no private, internal or external (tfjs) members.
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  // tfjs's `@doc` tags (on inherited layer methods) would show as empty "Doc" headings.
  excludeTags: [...OptionDefaults.excludeTags, '@doc'],
  // Speed: tsc type-checks the code; TypeDoc only reads it.
  skipErrorChecking: true,
  disableGit: true,
  disableSources: true,
  logLevel: LogLevel.Warn,
  // Every export and method needs a doc comment; properties only where the name is not enough.
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: true },
  requiredToBeDocumented: [
    'Enum',
    'Variable',
    'Function',
    'Class',
    'Interface',
    'TypeAlias',
    'Method',
    'Accessor',
  ],
};

/** Where a notebook section uses an export: the link and its text. */
export interface UsedIn {
  href: string;
  text: string;
}

/** One page of the API reference, for the site's layout and search. */
export interface ApiPage {
  path: string;
  title: string;
  summary: string;
  html: string;
  headings: Heading[];
}

/** The groups of a page, in order, with the kinds they hold. */
const GROUPS: [string, ReflectionKind][] = [
  ['Functions', ReflectionKind.Function],
  ['Classes', ReflectionKind.Class],
  ['Interfaces', ReflectionKind.Interface],
  ['Types', ReflectionKind.TypeAlias],
  ['Constants', ReflectionKind.Variable],
  ['Enums', ReflectionKind.Enum],
];

/** The module and name of an export or of a member of one (`Class.member`). */
function apiUse(reflection: Reflection): ApiUse | undefined {
  const names: string[] = [];
  for (let r: Reflection | undefined = reflection; r !== undefined; r = r.parent) {
    if (r.kindOf(ReflectionKind.Module))
      return { module: r.name as ApiModule, name: names.reverse().join('.') };
    if (!r.isSignature()) names.push(r.name);
  }
  return undefined;
}

/** A doc comment's text as markdown, its `{@link}`s as links within the reference. */
function markdown(parts: readonly CommentDisplayPart[] = []): string {
  return parts
    .map((part) => {
      if (part.kind !== 'inline-tag' || !part.tag.startsWith('@link')) return part.text;
      const target =
        typeof part.target === 'object' && 'kindOf' in part.target
          ? apiUse(part.target)
          : undefined;
      const text = part.tsLinkText || part.text;
      return target === undefined ? `\`${text}\`` : `[\`${text}\`](../${apiHref(target)})`;
    })
    .join('');
}

/** A doc comment's text as HTML: paragraphs, or `inline` within a line (a parameter's). */
function Prose({
  parts,
  inline = false,
}: {
  parts?: readonly CommentDisplayPart[];
  inline?: boolean;
}) {
  const md = markdown(parts).trim();
  if (md === '') return null;
  const Tag = inline ? 'span' : 'div';
  const html = inline
    ? marked.parseInline(md, { async: false })
    : marked.parse(md, { async: false });
  return <Tag className="api-doc" dangerouslySetInnerHTML={{ __html: html }} />;
}

/** A signature as TypeScript: `name<T>(a: A, b?: B): R`. */
function signatureText(signature: SignatureReflection, name: string): string {
  const types = signature.typeParameters?.map((t) => t.name).join(', ');
  const params = (signature.parameters ?? []).map(
    (p) =>
      `${p.flags.isRest ? '...' : ''}${p.name}${p.flags.isOptional || p.defaultValue !== undefined ? '?' : ''}: ${p.type?.toString() ?? 'unknown'}`,
  );
  const returns = signature.kindOf(ReflectionKind.ConstructorSignature)
    ? ''
    : `: ${signature.type?.toString() ?? 'void'}`;
  return `${name}${types ? `<${types}>` : ''}(${params.join(', ')})${returns}`;
}

/** The block tags readers need besides the summary (`@returns`, `@throws`, `@example`...). */
function BlockTags({ reflection }: { reflection: Reflection }) {
  const tags = (reflection.comment?.blockTags ?? []).filter((t) => t.tag !== '@module');
  return tags.map((tag, i) => (
    <div key={i} className="api-tag">
      <strong>{tag.tag.slice(1).replace(/^./, (c) => c.toUpperCase())}:</strong>
      <Prose parts={tag.content} />
    </div>
  ));
}

/** A function's, method's or constructor's signatures with their parameters. */
function Signatures({ reflection, name }: { reflection: DeclarationReflection; name: string }) {
  return (reflection.signatures ?? []).map((signature) => (
    <div key={signature.id} className="api-signature">
      <pre tabIndex={0}>
        <code>{signatureText(signature, name)}</code>
      </pre>
      <Prose parts={signature.comment?.summary} />
      {(signature.parameters?.length ?? 0) > 0 && (
        <ul className="api-params" aria-label={`Parameters of ${name}`}>
          {signature.parameters?.map((p) => (
            <li key={p.id}>
              <code>{p.name}</code>
              {p.defaultValue !== undefined && (
                <>
                  {' '}
                  (default <code>{p.defaultValue}</code>)
                </>
              )}
              : <Prose parts={p.comment?.summary} inline />
            </li>
          ))}
        </ul>
      )}
      <BlockTags reflection={signature} />
    </div>
  ));
}

/** A declaration as TypeScript, in a block that scrolls sideways when long. */
function Declaration({ text }: { text: string }) {
  return (
    <pre tabIndex={0}>
      <code>{text}</code>
    </pre>
  );
}

/** Members that come from tfjs (the layers' base class), which its own reference documents. */
const external = (member: DeclarationReflection) =>
  member.inheritedFrom !== undefined && member.inheritedFrom.reflection === undefined;

/** A member of a class or interface: constructor, property, accessor or method. */
function Member({ member, owner }: { member: DeclarationReflection; owner: string }) {
  const name = member.kindOf(ReflectionKind.Constructor) ? `new ${owner}` : member.name;
  const getter = member.getSignature;
  const type = (getter?.type ?? member.type)?.toString() ?? 'unknown';
  const readonly = member.flags.isReadonly || (getter && !member.setSignature) ? 'readonly ' : '';
  return (
    <div className="api-member" id={`${owner}.${member.name}`}>
      <h4>
        <code>{name}</code>
      </h4>
      {member.signatures === undefined ? (
        <>
          <Declaration
            text={`${readonly}${member.name}${member.flags.isOptional ? '?' : ''}: ${type}`}
          />
          <Prose parts={(member.comment ?? getter?.comment)?.summary} />
        </>
      ) : (
        <Signatures reflection={member} name={name} />
      )}
    </div>
  );
}

/** One export: its heading, signature or type, doc comment, members and where it is used. */
function Export({ reflection, usedIn }: { reflection: DeclarationReflection; usedIn: UsedIn[] }) {
  const kind = ReflectionKind.singularString(reflection.kind).toLowerCase();
  const members = (reflection.children ?? []).filter((m) => !external(m));
  const type = reflection.type?.toString();
  return (
    <section className="api-export">
      <h3 id={reflection.name}>
        <code>{reflection.name}</code> <span className="api-kind">{kind}</span>
      </h3>
      {reflection.signatures === undefined ? (
        <>
          {type !== undefined && (
            <Declaration
              text={
                reflection.kindOf(ReflectionKind.TypeAlias)
                  ? `type ${reflection.name} = ${type}`
                  : `const ${reflection.name}: ${type}`
              }
            />
          )}
          <Prose parts={reflection.comment?.summary} />
          <BlockTags reflection={reflection} />
        </>
      ) : (
        <Signatures reflection={reflection} name={reflection.name} />
      )}
      {members.map((member) => (
        <Member key={member.id} member={member} owner={reflection.name} />
      ))}
      {usedIn.length > 0 && (
        <p className="api-used-in">
          Used in{' '}
          {usedIn.map((use, i) => (
            <span key={use.href}>
              {i > 0 && '; '}
              <a href={`../${use.href}`}>{use.text}</a>
            </span>
          ))}
        </p>
      )}
    </section>
  );
}

/** The parameters of every function, method and constructor that have no description. */
function undocumentedParameters(project: ProjectReflection): string[] {
  return project
    .getReflectionsByKind(ReflectionKind.Parameter)
    .filter((p) => {
      const owner = p.parent?.parent;
      return (
        owner?.isDeclaration() &&
        owner.kindOf([
          ReflectionKind.Function,
          ReflectionKind.Method,
          ReflectionKind.Constructor,
        ]) &&
        !external(owner)
      );
    })
    .filter((p) => !p.comment?.summary.some((part) => part.text.trim() !== ''))
    .map((p) => `${p.parent?.parent?.getFullName()}(${p.name})`);
}

/**
 * Reads the library's doc comments and returns the API reference's pages; `usedIn` lists, per
 * export (`module#name`, see {@link apiHref}), the notebook sections that use it. `warnings`
 * counts TypeDoc's (missing doc comments, broken links, types that are not exported) and the
 * parameters without a description, which it logs; throws on errors.
 */
export async function apiReference(
  usedIn: Map<string, UsedIn[]>,
): Promise<{ pages: ApiPage[]; warnings: number }> {
  const app = await Application.bootstrapWithPlugins(OPTIONS);
  // Speed: compile only the entry points and what they import (tsconfig.json also includes the
  // tests, benchmarks and site).
  const { options, logger } = app;
  const entryPoints = ENTRY_POINTS.map((path) => resolve(path));
  const compilerOptions = options.getCompilerOptions(logger);
  options.setCompilerOptions(entryPoints, compilerOptions, options.getProjectReferences());
  const project = await app.convert();
  if (project === undefined) throw new Error('TypeDoc could not convert src/ (see above)');
  app.validate(project);
  for (const parameter of undocumentedParameters(project))
    logger.warn(`parameter ${parameter} has no description`);
  if (logger.hasErrors()) throw new Error('TypeDoc reported errors (see above)');

  const pages = (project.children ?? []).map((module): ApiPage => {
    const exports = module.children ?? [];
    const groups = GROUPS.map(([title, kind]) => ({
      title,
      members: exports.filter((e) => e.kindOf(kind)),
    })).filter((g) => g.members.length > 0);
    const body: ReactNode = (
      <>
        <h1>
          API reference: <code>{module.name}</code>
        </h1>
        <Prose parts={module.comment?.summary} />
        {groups.map((group) => (
          <section key={group.title}>
            <h2 id={group.title.toLowerCase()}>{group.title}</h2>
            {group.members.map((e) => (
              <Export
                key={e.id}
                reflection={e}
                usedIn={
                  usedIn.get(apiHref({ module: module.name as ApiModule, name: e.name })) ?? []
                }
              />
            ))}
          </section>
        ))}
      </>
    );
    const path = apiHref({ module: module.name as ApiModule, name: '' }).replace(/#$/, '');
    return {
      path,
      title: `API reference: ${module.name}`,
      summary: markdown(module.comment?.summary).split('\n\n')[0] ?? '',
      html: renderToStaticMarkup(body),
      headings: groups.map((g) => ({ depth: 2, id: g.title.toLowerCase(), text: g.title })),
    };
  });
  return { pages, warnings: logger.warningCount };
}
