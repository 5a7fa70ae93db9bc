// Starts Swagger UI on /docs (loaded after swagger-ui-bundle.js; no inline script, so the page's CSP stays strict).
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.url,
  dom_id: "#swagger-ui",
  deepLinking: true,
  docExpansion: "list",
  filter: true,
  displayOperationId: true,
  displayRequestDuration: true,
  tryItOutEnabled: true,
  requestSnippetsEnabled: true,
  persistAuthorization: false,
  defaultModelsExpandDepth: 1,
  defaultModelExpandDepth: 3,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
