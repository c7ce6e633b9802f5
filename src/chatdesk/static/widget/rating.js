// "How did we do?": the rating form of a resolved conversation, then the visitor's rating.
// Loaded by the frame only once a conversation is resolved (it costs a first open nothing).
// Every visible word comes from the caller's ``strings`` ("{score}" stands for the score):
// {question, rate, comment, send, sending, pick, thanks, rated, failed}.
import { el } from "./dom.js";

const SCORES = [1, 2, 3, 4, 5];

// Its styles come with it, from beside this module (the same versioned static path).
document.head.append(
  el("link", { rel: "stylesheet", href: new URL("./rating.css", import.meta.url).href }),
);

function fill(text, score) {
  return String(text).replace("{score}", String(score));
}

// ``onRate(score, comment)`` resolves to the stored rating or throws an Error whose
// message the visitor may read. ``show(rating)`` draws the form (null) or the rating.
export function ratingBox({ strings, onRate }) {
  const element = el("section", { class: "rating", "aria-label": strings.question });
  let drawn = null; // "form", "rated" or "thanks"

  function summary(rating) {
    const parts = [el("p", { class: "rating-score", text: fill(strings.rated, rating.score) })];
    if (rating.comment) parts.push(el("p", { class: "rating-comment", text: rating.comment }));
    return parts;
  }

  function form() {
    let score = null;
    const status = el("p", { class: "rating-status", role: "status", "aria-live": "polite" });
    const buttons = SCORES.map((value) =>
      el("button", {
        type: "button",
        class: "rating-button",
        "aria-pressed": "false",
        "aria-label": fill(strings.rate, value),
        text: String(value),
        onclick: () => {
          score = value;
          for (const button of buttons)
            button.setAttribute("aria-pressed", String(button.textContent === String(value)));
          status.textContent = "";
        },
      }),
    );
    const comment = el("textarea", { id: "rating-comment", rows: "2", maxlength: "2000" });
    const send = el("button", { type: "submit", class: "primary", text: strings.send });
    const box = el(
      "form",
      { class: "rating-form", novalidate: true },
      el("p", { class: "rating-question", id: "rating-question", text: strings.question }),
      el(
        "div",
        { class: "rating-buttons", role: "group", "aria-labelledby": "rating-question" },
        ...buttons,
      ),
      el("label", { for: "rating-comment", text: strings.comment }),
      comment,
      send,
      status,
    );
    box.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!score) {
        status.textContent = strings.pick;
        buttons[0].focus();
        return;
      }
      send.disabled = true;
      status.textContent = strings.sending;
      try {
        const rating = await onRate(score, comment.value.trim() || null);
        drawn = "thanks";
        element.replaceChildren(
          el("p", { class: "rating-thanks", role: "status", text: strings.thanks }),
          ...summary(rating),
        );
      } catch (failure) {
        status.textContent = failure.message || strings.failed;
        send.disabled = false;
      }
    });
    return box;
  }

  return {
    element,
    show(rating) {
      if (drawn === "thanks") return; // the thank-you stays until the conversation changes
      if (rating) {
        drawn = "rated";
        element.replaceChildren(...summary(rating));
      } else if (drawn !== "form") {
        drawn = "form"; // drawn once: a comment being typed is kept
        element.replaceChildren(form());
      }
    },
  };
}
