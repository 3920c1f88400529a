import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Served by the shark binary under /admin (the dashboard) and /api/docs
// (the API reference, docs.html): one build, two pages, shared hashed assets.
export default defineConfig({
  base: "/admin/",
  plugins: [react()],
  build: {
    assetsInlineLimit: 0, // no data: scripts or styles: everything is a file under 'self'
    chunkSizeWarningLimit: 4096,
    sourcemap: false,
    rollupOptions: {
      input: { index: "index.html", docs: "docs.html" },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.tsx", "src/**/*.test.ts"],
  },
} as any);
