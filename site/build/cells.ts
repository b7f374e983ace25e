/**
 * Notebook code cells → JavaScript that runs in the reader's browser with shared state, like a
 * kernel. A cell's top-level declarations become assignments to a page-wide scope object (the
 * runtime runs the body inside `with (scope)`), its imports become lookups of the modules the
 * page provides, and the value of a final expression is returned for display, as tslab does.
 * Every loop outside functions awaits `__checkpoint()` per iteration: the page stays responsive
 * during long runs, and the Stop button takes effect there.
 */
import ts from 'typescript';

/** A code cell compiled for the browser's cell runtime (site/client/kernel.ts). */
export interface CompiledCell {
  /** Body of an async function; runs inside `with (scope)`, may `return` the value to show. */
  code: string;
  /** Names the cell declares at top level (the runtime creates them in the scope first). */
  names: string[];
}

function bindingNames(name: ts.BindingName, into: string[]): void {
  if (ts.isIdentifier(name)) into.push(name.text);
  else
    for (const element of name.elements)
      if (!ts.isOmittedExpression(element)) bindingNames(element.name, into);
}

function importStatement(
  node: ts.ImportDeclaration,
  source: ts.SourceFile,
  names: string[],
): string {
  const module = `await __import(${node.moduleSpecifier.getText(source)})`;
  const clause = node.importClause;
  if (clause === undefined) return `${module};`;
  const parts: string[] = [];
  if (clause.name !== undefined) {
    names.push(clause.name.text);
    parts.push(`${clause.name.text} = __module.default;`);
  }
  const bindings = clause.namedBindings;
  if (bindings !== undefined && ts.isNamespaceImport(bindings)) {
    names.push(bindings.name.text);
    parts.push(`${bindings.name.text} = __module;`);
  } else if (bindings !== undefined) {
    for (const element of bindings.elements) {
      names.push(element.name.text);
      parts.push(
        `${element.name.text} = __module[${JSON.stringify((element.propertyName ?? element.name).text)}];`,
      );
    }
  }
  return `{ const __module = ${module}; ${parts.join(' ')} }`;
}

/** `js` with `await __checkpoint();` at the start of each loop body that is not inside a function. */
function withCheckpoints(js: string): string {
  const source = ts.createSourceFile('cell.js', js, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const edits: { at: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) || ts.isClassLike(node)) return;
    if (ts.isIterationStatement(node, false)) {
      const body = node.statement;
      if (ts.isBlock(body))
        edits.push({ at: body.getStart(source) + 1, text: ' await __checkpoint();' });
      else {
        edits.push({ at: body.getStart(source), text: '{ await __checkpoint(); ' });
        edits.push({ at: body.getEnd(), text: ' }' });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  edits.sort((a, b) => b.at - a.at);
  return edits.reduce((text, edit) => text.slice(0, edit.at) + edit.text + text.slice(edit.at), js);
}

/** Compiles one TypeScript notebook cell (see {@link CompiledCell}). */
export function compileCell(typescript: string): CompiledCell {
  // verbatimModuleSyntax keeps every value import: a later cell may use what this one imports.
  const js = ts.transpileModule(typescript, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
    },
  }).outputText;
  const source = ts.createSourceFile(
    'cell.js',
    withCheckpoints(js),
    ts.ScriptTarget.ES2022,
    true,
    ts.ScriptKind.JS,
  );
  const names: string[] = [];
  const hoisted: string[] = [];
  const body: string[] = [];
  const statements = source.statements.filter((s) => !ts.isExportDeclaration(s));
  statements.forEach((statement, index) => {
    const text = statement.getText(source);
    if (ts.isImportDeclaration(statement)) {
      body.push(importStatement(statement, source, names));
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        bindingNames(declaration.name, names);
        if (declaration.initializer !== undefined) {
          body.push(
            `(${declaration.name.getText(source)} = ${declaration.initializer.getText(source)});`,
          );
        }
      }
    } else if (
      (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) &&
      statement.name
    ) {
      names.push(statement.name.text);
      (ts.isFunctionDeclaration(statement) ? hoisted : body).push(
        `${statement.name.text} = ${text};`,
      );
    } else if (ts.isExpressionStatement(statement) && index === statements.length - 1) {
      body.push(`return (${statement.expression.getText(source)});`);
    } else {
      body.push(text);
    }
  });
  return { code: [...hoisted, ...body].join('\n'), names: [...new Set(names)] };
}
