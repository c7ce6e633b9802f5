// Starts Swagger UI on the OpenAPI document the page names. A file of its own, not an
// inline script, so the page's CSP allows scripts from this origin only.
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.openapi,
  domNode: root,
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // No badge fetched from swagger.io: the page talks to this server only.
  validatorUrl: null,
});
