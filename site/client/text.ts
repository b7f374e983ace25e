/** Text rules shared by the build (every page's text) and the browser (the outputs of cells run). */

/** Joins a mean and its spread ("73.7 ± 0.1") with no-break spaces, so no line breaks inside. */
export function keepNumbersTogether(text: string): string {
  return text.replace(/(\d) ± ([−-]?\d)/g, '$1\u00a0±\u00a0$2');
}
