/**
 * The elements notebook pages use in MDX, rendered to static HTML at build time. The browser
 * code (site/client) finds them by class and data attributes: it draws the charts and wires the
 * Run buttons.
 */
import type { ReactNode } from 'react';

/** JSON inside a `<script type="application/json">`, safe against `</script>`. */
export function JsonScript({
  value,
  className,
  id,
}: {
  value: unknown;
  className?: string;
  id?: string;
}) {
  const json = JSON.stringify(value).replace(/</g, '\\u003c');
  return (
    <script
      type="application/json"
      className={className}
      id={id}
      dangerouslySetInnerHTML={{ __html: json }}
    />
  );
}

/** A code cell: toolbar (Run, or the note that it needs Node), source, outputs. */
export function Cell({
  index,
  node,
  children,
}: {
  index: number;
  node: boolean;
  children: ReactNode;
}) {
  return (
    <section
      className="cell"
      data-cell={index}
      data-node={node ? 'true' : undefined}
      aria-label={`Code cell ${index + 1}`}
    >
      <div className="cell-toolbar">
        <span className="cell-label">[{index + 1}]</span>
        {node ? (
          <span className="badge" title="This cell reads files or datasets that only Node.js has">
            Needs Node.js: stored output shown
          </span>
        ) : (
          <>
            <button
              type="button"
              className="run"
              data-action="run"
              aria-label={`Run cell ${index + 1}`}
            >
              ▶ Run
            </button>
            <button
              type="button"
              className="stop"
              data-action="stop"
              hidden
              aria-label={`Stop cell ${index + 1}`}
            >
              ■ Stop
            </button>
            <span className="cell-status" role="status" aria-live="polite" />
          </>
        )}
      </div>
      {children}
    </section>
  );
}

/** The outputs a cell had when the notebook was executed (replaced when the reader runs it). */
export function Outputs({ children }: { children?: ReactNode }) {
  return (
    <div className="outputs" data-stored="true">
      {children}
    </div>
  );
}

export function Stream({ name, text }: { name: string; text: string }) {
  return (
    <pre className={`stream ${name}`} tabIndex={0}>
      {text}
    </pre>
  );
}

export function Markdown({ children }: { children?: ReactNode }) {
  return <div className="markdown-output">{children}</div>;
}

interface PlotlySpec {
  data: unknown[];
  layout?: { title?: { text?: string } | string };
}

/** A Plotly chart: its spec travels as JSON; the browser draws it with plotly.js. */
export function Chart({ spec }: { spec: PlotlySpec }) {
  const title = spec.layout?.title;
  const label = (typeof title === 'string' ? title : title?.text) ?? 'chart';
  return (
    <figure className="chart" aria-label={`Chart: ${label}`}>
      <div className="plot" />
      <JsonScript value={spec} className="chart-spec" />
    </figure>
  );
}

export function Picture({ mime, data }: { mime: string; data: string }) {
  return (
    <img
      className="output-image"
      src={`data:${mime};base64,${data.replace(/\s/g, '')}`}
      alt="Cell output image"
    />
  );
}

export function Html({ html }: { html: string }) {
  return <div className="html-output" dangerouslySetInnerHTML={{ __html: html }} />;
}

/** Where the landing page's MNIST demo mounts (site/client/mnist-demo.ts fills it). */
export function MnistDemo() {
  return (
    <div id="mnist-demo" className="mnist-demo" data-state="idle">
      <noscript>The demo trains in your browser and needs JavaScript.</noscript>
    </div>
  );
}

export const MDX_COMPONENTS = { Cell, Outputs, Stream, Markdown, Chart, Picture, Html, MnistDemo };
