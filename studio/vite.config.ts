import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The build goes straight into the Python package, which serves it at /studio/.
export default defineConfig({
  base: "/studio/",
  plugins: [react()],
  build: {
    outDir: "../src/distaff/studio/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 1000,
    rolldownOptions: {
      treeshake: {
        // @langchain/core (which the SDK uses for message classes) and langsmith do not declare
        // themselves free of side effects, so their whole callback and tracing machinery would
        // ship unused; they have none at import time, so let unused modules go (-80 kB gzip).
        moduleSideEffects: [{ test: /node_modules[\\/](@langchain[\\/]core|langsmith)[\\/]/, sideEffects: false }],
      },
    },
  },
  server: {
    // `npm run dev` talks to a distaff on 127.0.0.1:2024 (another one: the studio's Settings).
    port: 5173,
  },
});
