// Starts Swagger UI on chatdesk's OpenAPI document. A file of its own, not an inline
// script, so the page's CSP allows scripts from this origin only.
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // No badge fetched from swagger.io: the page talks to this server only.
  validatorUrl: null,
});
