// Vite's `?raw` imports (tests read repository files such as wrangler.toml as text).
declare module "*?raw" {
  const text: string;
  export default text;
}
