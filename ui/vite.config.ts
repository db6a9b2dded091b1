import { defineConfig } from "vite";

// Preact's JSX is compiled by esbuild (tsconfig: jsxImportSource = preact); no framework plugin needed.
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true, host: "127.0.0.1" },
  build: { target: "safari16", outDir: "dist", emptyOutDir: true, sourcemap: false },
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
});
