// Talking to the host page (the loader) with postMessage, origins checked both ways.
// We post only to the host origin the server validated against the site's allowed origins,
// never "*"; we accept only messages from our parent window at that origin.

export function connectHost(hostOrigin, handlers) {
  const parent = window.parent !== window ? window.parent : null;
  const ancestor = location.ancestorOrigins?.[0];
  const trusted = Boolean(parent && hostOrigin && (!ancestor || ancestor === hostOrigin));

  window.addEventListener("message", (event) => {
    if (!trusted || event.source !== parent || event.origin !== hostOrigin) return;
    const data = event.data || {};
    const handler = typeof data.chatdesk === "string" && handlers[data.chatdesk];
    if (handler && Object.hasOwn(handlers, data.chatdesk)) handler(data);
  });

  return function post(type, fields = {}) {
    if (trusted) parent.postMessage({ chatdesk: type, ...fields }, hostOrigin);
  };
}
