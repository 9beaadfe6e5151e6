/** esbuild's `text` loader: a CSS file imports as its text (the page injects it in a <style>). */
declare module '*.css' {
  const text: string;
  export default text;
}
