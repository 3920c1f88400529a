// The API reference at /api/docs: Scalar, bundled here, reading the OpenAPI
// document this same server serves. Nothing is fetched from elsewhere: no
// web fonts, no proxy, no telemetry, no "open in client" links out.
import { createApiReference } from "@scalar/api-reference";
import "@scalar/api-reference/style.css";

createApiReference("#api-reference", {
  url: "/api/openapi.yaml",
  withDefaultFonts: false,
  hideClientButton: true,
  telemetry: false,
  showDeveloperTools: "never",
  agent: { disabled: true },
  documentDownloadType: "yaml",
} as any);
