/**
 * The code editor of a runnable cell (CodeMirror 6): TypeScript highlighting in the site's
 * colours, undo, bracket matching; Ctrl+Enter (⌘+Enter) or Shift+Enter runs the cell; Tab
 * leaves the editor as it leaves any field, so keyboard users are never trapped in it.
 */
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { javascript } from '@codemirror/lang-javascript';
import { bracketMatching, HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { drawSelection, EditorView, keymap } from '@codemirror/view';
import { tags } from '@lezer/highlight';

/** The same colours as the static code blocks (the --hl-* variables of site.css). */
const HIGHLIGHT = HighlightStyle.define([
  { tag: [tags.keyword, tags.bool, tags.null], color: 'var(--hl-keyword)' },
  { tag: [tags.string, tags.regexp], color: 'var(--hl-string)' },
  { tag: tags.number, color: 'var(--hl-number)' },
  { tag: tags.comment, color: 'var(--hl-comment)', fontStyle: 'italic' },
  { tag: tags.function(tags.variableName), color: 'var(--hl-title)' },
  { tag: [tags.typeName, tags.className], color: 'var(--hl-type)' },
]);

/** A cell's editor: the code as the reader has it now, and a way back to the original. */
export interface CellEditor {
  readonly code: string;
  readonly edited: boolean;
  reset(): void;
}

/**
 * Replaces the static code block `pre` with an editor of the same code, labelled `label` for
 * screen readers; `run` is called by the keyboard shortcut.
 */
export function mountEditor(pre: HTMLElement, label: string, run: () => void): CellEditor {
  const original = pre.textContent?.replace(/\n$/, '') ?? '';
  const runKey = () => (run(), true);
  const view = new EditorView({
    state: EditorState.create({
      doc: original,
      extensions: [
        history(),
        drawSelection(),
        bracketMatching(),
        javascript({ typescript: true }),
        syntaxHighlighting(HIGHLIGHT),
        keymap.of([
          { key: 'Mod-Enter', run: runKey },
          { key: 'Shift-Enter', run: runKey },
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        EditorView.lineWrapping, // long lines wrap: no scrolling sideways, on phones either
        EditorView.contentAttributes.of({ 'aria-label': label }),
      ],
    }),
  });
  view.dom.classList.add('cell-editor');
  pre.replaceWith(view.dom);
  return {
    get code() {
      return view.state.doc.toString();
    },
    get edited() {
      return view.state.doc.toString() !== original;
    },
    reset() {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: original } });
    },
  };
}
