"""The loader on other people's pages: another origin, a strict CSP, hostile CSS and globals,
loaded twice or late, and an origin the site does not allow."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import HostServer, OperatorApi, make_operator, make_site
from tests.conftest import LiveServer

HOSTILE_CSS = """
* { font-family: "Comic Sans MS", cursive !important; box-sizing: content-box !important;
    letter-spacing: 3px !important; line-height: 3 !important; color: #f0f !important; }
button, div, span, svg, iframe { display: none !important; visibility: hidden !important;
    opacity: 0 !important; width: 0 !important; height: 0 !important; }
body * { position: static !important; transform: scale(.2) !important; filter: blur(4px) !important;
    pointer-events: none !important; z-index: -1 !important; }
body { overflow: hidden !important; }
p { margin: 40px !important; }
"""
HOSTILE_JS = """
window.config = {theme: "host"};
window.api = function () { return "host api"; };
window.chatdesk = 1;  // a name clash: the page keeps its value, the widget still works
window.$ = function () { throw new Error("host $"); };
"""
SNAPSHOT = """() => {
  const own = (el) => el.closest('chatdesk-widget') || el.src && el.src.endsWith('/widget.js');
  const props = ['display', 'visibility', 'font-family', 'color', 'position', 'transform',
                 'margin-top', 'width', 'height', 'overflow', 'letter-spacing'];
  const elements = [document.documentElement, document.body,
                    ...document.body.querySelectorAll('*')].filter((el) => !own(el));
  return {
    globals: Object.getOwnPropertyNames(window).sort(),
    html: elements.map((el) => el.cloneNode(false).outerHTML),
    text: document.body.innerText,
    styles: elements.map((el) => {
      const style = getComputedStyle(el);
      return props.map((p) => style.getPropertyValue(p)).join('|');
    }),
    sheets: document.styleSheets.length + '/' + document.adoptedStyleSheets.length,
    config: JSON.stringify(window.config),
    chatdesk: String(window.chatdesk),
    api: window.api(),
  };
}"""

# Records whether the loader ever shows its "Chat is unavailable right now" note.
NOTE_WATCH = """() => {
  const note = document.querySelector('chatdesk-widget').shadowRoot.querySelector('[role=status]');
  window.noteShown = false;
  const check = () => { if (note.checkVisibility()) window.noteShown = true; };
  new MutationObserver(check).observe(note.closest('.w').parentNode,
                                      {attributes: true, subtree: true, childList: true});
}"""


def watch(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    return problems


def inject_loader(page: Page, live_server: LiveServer, site_key: str) -> None:
    page.evaluate(
        """([src, key]) => {
          const script = document.createElement('script');
          script.src = src;
          script.dataset.site = key;
          document.body.appendChild(script);
        }""",
        [live_server.url + "/widget.js", site_key],
    )


def test_hostile_page_with_strict_csp_keeps_its_look_and_the_chat_works(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    site = make_site(settings, "Shop", [host.url], prechat_name="off", prechat_email="off")
    chat = live_server.url
    policy = (
        f"default-src 'self'; script-src 'self' {chat}; style-src 'self'; "
        f"connect-src 'self' {chat}; frame-src {chat}; img-src 'self' data:; base-uri 'none'"
    )
    host.add("/hostile.css", HOSTILE_CSS, {"Content-Type": "text/css"})
    host.add("/hostile.js", HOSTILE_JS, {"Content-Type": "text/javascript"})
    url = host.add(
        "/",
        '<!doctype html><html><head><meta charset="utf-8"><title>Host</title>'
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/hostile.css">'
        '<script src="/hostile.js"></script></head><body>'
        '<p id="intro">Welcome to a page that styles everything.</p>'
        '<button id="buy" type="button">Buy</button><div class="box"><span>Box</span></div>'
        "</body></html>",
        {"Content-Security-Policy": policy},
    )
    page = context.new_page()
    problems = watch(page)
    page.goto(url)
    before = page.evaluate(SNAPSHOT)

    inject_loader(page, live_server, site["site_key"])  # late: long after the page loaded
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["width"] == 56 and box["height"] == 56
    assert box["x"] + box["width"] == viewport["width"] - 20  # bottom right, as configured
    assert box["y"] + box["height"] == viewport["height"] - 20
    launcher.click()
    frame = page.frame_locator("iframe[title=Chat]")
    expect(page.locator("iframe[title=Chat]")).to_be_visible()
    frame.get_by_role("textbox", name="Message").fill("Hello from a hostile page")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Hello from a hostile page"])
    frame.get_by_role("button", name="Close chat").click()
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()

    after = page.evaluate(SNAPSHOT)
    assert after == before
    assert after["chatdesk"] == "1"
    assert problems == [], problems


def test_loader_twice_late_and_with_queued_calls_makes_one_widget(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    site = make_site(settings, "Shop", [host.url], prechat_name="off", prechat_email="off")
    tag = (
        f'<script src="{live_server.url}/widget.js" data-site="{site["site_key"]}" async></script>'
    )
    url = host.add(
        "/twice",
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        "<script>window.unread = [];"
        "window.chatdesk = [['on', 'unread', (n) => window.unread.push(n)]];</script>"
        f"{tag}</head><body><h1>Twice</h1>{tag}</body></html>",
    )
    page = context.new_page()
    problems = watch(page)
    page.goto(url)
    expect(page.get_by_role("button", name="Open chat")).to_be_visible()
    inject_loader(page, live_server, site["site_key"])  # a third copy, late
    page.wait_for_function("window.chatdesk && typeof window.chatdesk.open === 'function'")
    expect(page.locator("chatdesk-widget")).to_have_count(1)
    assert page.evaluate("Object.keys(window.chatdesk).sort()") == [
        "close",
        "identify",
        "on",
        "open",
        "push",
        "setVisitor",
        "showConversations",
        "toggle",
        "version",
    ]
    page.evaluate("window.chatdesk.push(['open'])")  # the queue form works after loading too
    expect(page.locator("iframe[title=Chat]")).to_have_count(1)
    page.frame_locator("iframe[title=Chat]").get_by_role("textbox", name="Message").wait_for()
    frame = page.frame_locator("iframe[title=Chat]")
    frame.get_by_role("textbox", name="Message").fill("Hi")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(frame.locator(".confirmed .msg.me")).to_have_count(1)
    page.evaluate("window.chatdesk.close()")
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()
    operator = OperatorApi(live_server, make_operator(settings))
    (conversation,) = operator.conversations()
    operator.reply(conversation["id"], "Hello!")
    operator.close()
    # The listener queued before the loader ran was attached, and hears the change.
    page.wait_for_function("window.unread.length > 0")
    assert page.evaluate("window.unread") == [1]
    page.evaluate("window.chatdesk.open()")
    page.wait_for_function("window.unread.length > 1")
    assert page.evaluate("window.unread") == [1, 0]
    assert problems == [], problems


def test_page_on_an_origin_the_site_does_not_allow_cannot_show_the_chat(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    site = make_site(settings, "Shop", ["https://shop.example.com"])
    frame_src = f"{live_server.url}/widget/frame?site={site['site_key']}&origin={host.url}"
    url = host.add(
        "/",
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '</head><body><h1>Not allowed</h1><iframe title="Chat" src="' + frame_src + '"></iframe>'
        "</body></html>",
    )
    page = context.new_page()
    blocked: list[Any] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None,
    )
    with page.expect_console_message(lambda m: "no chat here" in m.text):
        page.goto(url, wait_until="load")
        inject_loader(page, live_server, site["site_key"])
    # The loader shows no launcher on a page that could not frame the chat anyway...
    expect(page.locator("chatdesk-widget")).to_have_count(0)
    # ...and the browser itself refuses to render the frame there.
    (child,) = page.main_frame.child_frames
    assert not child.url.startswith(live_server.url)
    assert child.evaluate("document.getElementById('chat')") is None
    assert any("frame-ancestors" in text for text in blocked), blocked


def test_launcher_still_appears_when_the_page_csp_forbids_its_settings_request(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    site = make_site(settings, "Shop", [host.url], accent_color="#b91c1c", position="left")
    chat = live_server.url
    policy = f"default-src 'self'; script-src {chat}; connect-src 'self'; frame-src {chat}"
    url = host.add(
        "/",
        f'<!doctype html><html><head><meta charset="utf-8"></head><body><h1>Strict</h1>'
        f'<script src="{chat}/widget.js" data-site="{site["site_key"]}" async></script>'
        "</body></html>",
        {"Content-Security-Policy": policy},
    )
    page = context.new_page()
    page.goto(url)
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()  # default colour and side: the settings were not reachable
    box = launcher.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["x"] + box["width"] == viewport["width"] - 20
    # The refused request is no sign that chatdesk is down: the "unavailable" note never shows.
    page.evaluate(NOTE_WATCH)
    launcher.click()
    frame = page.frame_locator("iframe[title=Chat]")
    expect(frame.get_by_role("heading", name="Shop")).to_be_visible()
    page.wait_for_timeout(2500)  # past the loader's grace after the frame's load
    assert page.evaluate("window.noteShown") is False
