// /docs: Swagger UI from the pinned swagger-ui-dist copy (no CDN), configured from the page's meta tag.
const config = JSON.parse(document.querySelector('meta[name="lc-config"]').content);
window.ui = window.SwaggerUIBundle({
  url: config.openapi_url,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
