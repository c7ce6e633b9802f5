// Files in a conversation, for the console and the widget alike: how a message's
// attachments are drawn, and how one file is uploaded with its progress.
//
// Images are shown by their thumbnail; a click shows them whole in a dialog above the
// page (Escape or its close button closes it), a middle or modified click opens them in
// a new tab (the server sends raster images inline, everything else as a download;
// ADR 0019); any other file is a card with its name and size that downloads it. Only createElement and textContent:
// a file's name is text, whatever it holds.

/** ``bytes`` as a short size in ``locale`` ("12 KB", "3.4 MB"). */
export function formatSize(bytes, locale) {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return new Intl.NumberFormat(locale, {
    style: "unit",
    unit: units[unit],
    unitDisplay: unit ? "short" : "long",
    maximumFractionDigits: value < 10 && unit ? 1 : 0,
  }).format(value);
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

/** A page with a folded corner, drawn in the text's colour (no emoji font needed). */
function documentIcon() {
  const icon = document.createElementNS(SVG, "svg");
  for (const [name, value] of Object.entries({
    class: "attachment-icon",
    "aria-hidden": "true",
    width: "18",
    height: "18",
    viewBox: "0 0 24 24",
    fill: "none",
    stroke: "currentColor",
    "stroke-width": "2",
    "stroke-linejoin": "round",
  }))
    icon.setAttribute(name, value);
  for (const d of ["M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z", "M14 2v6h6"]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    icon.append(path);
  }
  return icon;
}

/** ``file`` whole in a modal dialog, closed by Escape (the dialog's own), its close
 * button or a click beside the image; focus goes back to ``opener``. */
export function showImage(file, opener, closeLabel = "Close image") {
  const close = element("button", {
    type: "button",
    class: "lightbox-close",
    "aria-label": closeLabel,
  });
  close.textContent = "×";
  const image = element("img", { src: file.url, alt: file.name });
  const dialog = element("dialog", { class: "lightbox", "aria-label": file.name }, close, image);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // the backdrop
  });
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") event.stopPropagation(); // closes the image, not the chat
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return dialog;
}

/** A message's attachments as a list; ``words`` names them for screen readers:
 * ``{image: (name) => …, download: (name, size) => …, close: "Close image"}``; images
 * fit a ``box`` pixels square. Null when there are none. */
export function attachmentList(attachments, { words, locale, box = 240 } = {}) {
  if (!attachments?.length) return null;
  const list = element("ul", { class: "attachments" });
  for (const file of attachments) {
    const size = formatSize(file.size, locale);
    let link;
    if (file.thumbnail_url) {
      // Its size on screen, set before it loads: the conversation does not jump.
      const scale = Math.min(1, box / Math.max(file.width || box, file.height || box));
      const image = element("img", {
        src: file.thumbnail_url,
        alt: file.name,
        loading: "lazy",
        width: file.width ? Math.round(file.width * scale) : null,
        height: file.height ? Math.round(file.height * scale) : null,
      });
      link = element(
        "a",
        {
          class: "attachment-image",
          href: file.url,
          target: "_blank",
          rel: "noopener noreferrer",
          "aria-label": words?.image ? words.image(file.name) : `Open ${file.name}`,
        },
        image,
      );
      const opener = link;
      link.addEventListener("click", (event) => {
        if (event.button || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey)
          return;
        event.preventDefault();
        showImage(file, opener, words?.close);
      });
    } else {
      link = element(
        "a",
        {
          class: "attachment-file",
          href: file.url,
          download: file.name,
          rel: "noopener noreferrer",
          "aria-label": words?.download
            ? words.download(file.name, size)
            : `Download ${file.name}, ${size}`,
        },
        documentIcon(),
        element("span", { class: "attachment-name" }, file.name),
        element("span", { class: "attachment-size" }, size),
      );
    }
    list.append(element("li", { class: "attachment" }, link));
  }
  return list;
}

/** POST ``file`` as multipart to ``path``; resolves to the Attachment, rejects with
 * ``{status, message}`` (status 0: the network). ``onProgress(fraction)`` as it goes. */
export function uploadFile(path, file, { headers = {}, onProgress, signal, cookies = true } = {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.withCredentials = cookies; // the widget's frame sends its token, never a cookie
    request.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status === 201 && body) resolve(body);
      else
        reject({
          status: request.status,
          message: body?.error?.message || `The server answered ${request.status}.`,
        });
    };
    request.onerror = () => reject({ status: 0, message: "" });
    request.onabort = () => reject({ status: 0, message: "", aborted: true });
    signal?.addEventListener("abort", () => request.abort());
    const form = new FormData();
    form.append("file", file, file.name || "pasted.png");
    request.send(form);
  });
}
