// A message body as DOM that reads well, for the console and the widget alike: web and
// email addresses become links, line breaks stay (the container has white-space: pre-wrap),
// and **bold**, _italic_ and `code` are drawn. Everything else is shown as the text it is.
//
// Only createElement and textContent: the body never goes through innerHTML, so "<b>" is
// four characters on screen. A link is made only for http:, https: and mailto: (decided
// on the parsed URL, not on the text), so javascript:, data: and any other scheme stay text.
//
// The address finder (linkifyjs, 19 kB compressed: more than the rest of the widget) is
// loaded by loadLinks(), not imported: the widget asks for it only when a message may hold
// an address, and draws that message again once it is there.

export const LINK_REL = "noopener noreferrer nofollow ugc";
const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const CODE = /`([^`\n]+)`/g;
// Stands for a link or a code span while emphasis is parsed: one character, neither a space
// nor a marker, so "**<link>**" is bold and markers inside a link or code are never seen.
const ATOM = "\uFFFC";
const SPACE = /\s/;
const PUNCTUATION = /[\p{P}\p{S}]/u;
// Anything an address could be made of: "example.com", "a@b.co", "https:".
const MAY_LINK = /[\p{L}\p{N}][.@:][\p{L}\p{N}/]/u;
let find = null;
let loading = null;

/** Load the address finder once; resolves when messageText draws links. */
export function loadLinks() {
  loading ||= import("../vendor/linkifyjs/linkify.mjs").then(
    (module) => {
      find = module.find;
    },
    (error) => {
      loading = null; // offline for a moment: a later message tries again
      throw error;
    },
  );
  return loading;
}

/** Whether ``body`` may hold an address that is not drawn as a link yet (see loadLinks). */
export function awaitsLinks(body) {
  return find === null && MAY_LINK.test(String(body ?? ""));
}

/** The URL to link to for ``href``, or null when it must not become a link. */
export function safeHref(href) {
  try {
    const url = new URL(href);
    return LINK_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** ``body`` as a DocumentFragment of text, links, <strong>, <em> and <code>. */
export function messageText(body) {
  const source = String(body ?? "");
  const scanned = { text: "", atoms: new Map() };
  let last = 0;
  for (const match of source.matchAll(CODE)) {
    addLinks(scanned, source.slice(last, match.index));
    addAtom(scanned, { code: match[1] });
    last = match.index + match[0].length;
  }
  addLinks(scanned, source.slice(last));
  const fragment = document.createDocumentFragment();
  new Emphasis(scanned).render(0, scanned.text.length, fragment);
  return fragment;
}

/** What ``body`` reads as once drawn, markers gone: for one-line previews. */
export function plainText(body) {
  return messageText(body).textContent;
}

function addAtom(scanned, atom) {
  scanned.atoms.set(scanned.text.length, atom);
  scanned.text += ATOM;
}

function addLinks(scanned, text) {
  if (find === null) {
    scanned.text += text;
    return;
  }
  let last = 0;
  for (const found of find(text, { defaultProtocol: "https" })) {
    if (found.start < last) continue;
    const value = trimMarkers(text, found.start, found.value);
    // href is the scheme (given or added) followed by the text: cut as much as the text was.
    const href = safeHref(
      found.href.slice(0, found.href.length - (found.value.length - value.length)),
    );
    if (!href || !value) continue; // ftp:, file: and the like stay text
    scanned.text += text.slice(last, found.start);
    addAtom(scanned, { href, text: value });
    last = found.start + value.length;
  }
  scanned.text += text.slice(last);
}

// A link that ends a bold or italic run ("**see https://example.com/x**") would otherwise
// swallow the closing marker: trailing "*" never belong to it, nor a trailing "_" when an
// italic run is open before it on the same line.
function trimMarkers(text, start, value) {
  let trimmed = value.replace(/[*`]+$/, "");
  const line = text.slice(text.lastIndexOf("\n", start - 1) + 1, start);
  if (/(^|[\s\p{P}\p{S}])_(?!\s)/u.test(line)) trimmed = trimmed.replace(/_+$/, "");
  return trimmed;
}

const STRONG = { marker: "**", tag: "strong" };
const EM = { marker: "_", tag: "em" };

class Emphasis {
  constructor({ text, atoms }) {
    this.text = text;
    this.atoms = atoms;
    // Every place a run may close, and every line end, found once: each opener then finds
    // its closer by binary search, so no input makes this slower than n log n.
    this.closers = new Map([
      [STRONG, this.positions((i) => this.closesStrong(i))],
      [EM, this.positions((i) => this.closesEm(i))],
    ]);
    this.lineEnds = this.positions((i) => text[i] === "\n");
  }

  positions(test) {
    const found = [];
    for (let i = 0; i < this.text.length; i += 1) if (test(i)) found.push(i);
    return found;
  }

  isSpace(i) {
    return i < 0 || i >= this.text.length || SPACE.test(this.text[i]);
  }

  isBoundary(i) {
    return this.isSpace(i) || PUNCTUATION.test(this.text[i]);
  }

  opensStrong(i) {
    return this.text.startsWith("**", i) && !this.isSpace(i + 2) && this.text[i + 2] !== "*";
  }

  closesStrong(i) {
    return this.text.startsWith("**", i) && !this.isSpace(i - 1) && this.text[i - 1] !== "*";
  }

  // snake_case_words stay as they are: "_" opens after a space or punctuation only.
  opensEm(i) {
    const t = this.text;
    return t[i] === "_" && this.isBoundary(i - 1) && !this.isSpace(i + 1) && t[i + 1] !== "_";
  }

  closesEm(i) {
    const t = this.text;
    return t[i] === "_" && !this.isSpace(i - 1) && t[i - 1] !== "_" && this.isBoundary(i + 1);
  }

  /** The first closer of ``kind`` after ``from`` (content not empty), on the same line, before ``to``. */
  closer(kind, from, to) {
    const lineEnd = firstAtLeast(this.lineEnds, from);
    const limit = Math.min(to, lineEnd === undefined ? to : lineEnd);
    const at = firstAtLeast(this.closers.get(kind), from + 1);
    return at !== undefined && at + kind.marker.length <= limit ? at : -1;
  }

  render(from, to, parent) {
    let plain = from;
    let i = from;
    while (i < to) {
      const kind = this.opensStrong(i) ? STRONG : this.opensEm(i) ? EM : null;
      const close = kind ? this.closer(kind, i + kind.marker.length, to) : -1;
      if (close === -1) {
        i += 1;
        continue;
      }
      this.plain(plain, i, parent);
      const node = document.createElement(kind.tag);
      this.render(i + kind.marker.length, close, node);
      parent.append(node);
      i = close + kind.marker.length;
      plain = i;
    }
    this.plain(plain, to, parent);
  }

  /** Text from ``from`` to ``to``, with the links and code spans it holds. */
  plain(from, to, parent) {
    let start = from;
    for (let at = this.text.indexOf(ATOM, from); at !== -1 && at < to; ) {
      const atom = this.atoms.get(at);
      if (atom) {
        if (at > start) parent.append(this.text.slice(start, at));
        parent.append(atomNode(atom));
        start = at + 1;
      }
      at = this.text.indexOf(ATOM, at + 1);
    }
    if (to > start) parent.append(this.text.slice(start, to));
  }
}

function atomNode(atom) {
  if (atom.code !== undefined) {
    const code = document.createElement("code");
    code.textContent = atom.code;
    return code;
  }
  const link = document.createElement("a");
  link.href = atom.href;
  link.rel = LINK_REL;
  link.target = "_blank";
  link.textContent = atom.text;
  return link;
}

function firstAtLeast(sorted, value) {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return sorted[low];
}
