// Settings (admins and owners): sites and their widget, operators, canned responses, API tokens,
// webhooks, emails; the audit log (owners only). One section per page, drawn by its own module.
import { renderAudit } from "./audit.js";
import { renderBlocks } from "./blocks.js";
import { renderCanned } from "./canned.js";
import "./chrome.js";
import { renderEmails } from "./emails.js";
import { renderOperators } from "./operators.js";
import { followPresence } from "./presence.js";
import { say } from "./section.js";
import { renderSites } from "./sites.js";
import { renderTokens } from "./tokens.js";
import { renderWebhooks } from "./webhooks.js";

const section = document.getElementById("settings").dataset.section;

const RENDER = {
  sites: renderSites,
  operators: renderOperators,
  canned: renderCanned,
  tokens: renderTokens,
  webhooks: renderWebhooks,
  emails: renderEmails,
  blocks: renderBlocks,
  audit: renderAudit,
};

followPresence(); // an operator on a settings page is at the console too

(async () => {
  try {
    await RENDER[section]();
    document.body.dataset.ready = "1";
  } catch (error) {
    say(error.message, { error: true });
  }
})();
