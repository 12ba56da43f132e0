"""Hostile text from a server, in a real browser: shown as text, runs nothing.

A recorded server (a tiny werkzeug app started in the notebook's kernel) answers with a task whose
button labels, emoji, customIds, prompt and image URL carry HTML and JavaScript. Every script or
handler would set ``window.__x``; the test checks the text is shown literally and that
``window.__x`` is never set. (Prompts and fail reasons: test_studio.py::
test_failed_task_and_hostile_text_show_as_text; kernel side: tests/test_reliability.py::
test_hostile_labels_descriptions_and_image_urls_stay_plain_data.)
"""

from __future__ import annotations

from harness import open_notebook

SERVER = r"""
import json, threading
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

XSS = '<img src=x onerror="window.__x=1">'
TASK = {
    "id": "1732000000000777", "action": "IMAGINE", "status": "SUCCESS", "progress": "100%",
    "prompt": "a cat <script>window.__x=2</script>",
    "description": "/imagine <svg onload=window.__x=3>",
    "imageUrl": "javascript:window.__x=4",
    "buttons": [
        {"customId": "MJ::JOB::upsample::1::h", "label": "U1" + XSS},
        {"customId": "MJ::JOB::variation::1::h\"><img src=x onerror=window.__x=5>",
         "label": "<b>V1</b>"},
        {"customId": "MJ::JOB::reroll::0::h::SOLO", "label": "",
         "emoji": "<svg onload=window.__x=6>"},
    ],
}

@Request.application
def app(request):
    if request.path.endswith("/list-by-condition"):
        return Response(json.dumps([TASK]), mimetype="application/json")
    if request.path.endswith("/fetch"):
        return Response(json.dumps(TASK), mimetype="application/json")
    return Response("", 500)

recorded = make_server("127.0.0.1", 0, app, threaded=True)
threading.Thread(target=recorded.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{recorded.server_port}"
"""

CARD = """
from mjwidgets import Client, TaskView, Tracker
client = Client(url)
tracker = Tracker(client)
view = TaskView(client.fetch("1732000000000777"), tracker=tracker)
view
"""


def test_hostile_button_labels_and_urls_show_as_text(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "hostile_card", [SERVER, CARD])
    page = nb.page
    card = page.locator(".mjw-task[data-task-id='1732000000000777']")
    card.wait_for()
    buttons = card.locator("button.mjw-button")
    buttons.first.wait_for()
    nb.wait_until("bool(view.card.retrying)")  # the javascript: URL was refused
    assert sorted(buttons.all_inner_texts()) == [
        "<b>V1</b>",
        "<svg onload=window.__x=6>",
        'U1<img src=x onerror="window.__x=1">',
    ]
    assert card.locator(".mjw-prompt-text").inner_text() == "a cat <script>window.__x=2</script>"
    card.locator(".mjw-retrying", has_text="javascript:").wait_for()  # text, not a link
    assert card.locator("img[src='x'], svg[onload], b, script, a[href^='javascript']").count() == 0
    variation = card.locator("button.mjw-button[data-kind='variation']")
    assert variation.get_attribute("data-custom-id").endswith('"><img src=x onerror=window.__x=5>')
    variation.click()  # the hostile customId round-trips as data; the server answers 500
    nb.wait_until("'HTTP 500' in view.card.error")
    card.locator(".mjw-error", has_text="HTTP 500").wait_for()  # the page has shown the answer
    assert page.evaluate("window.__x") is None
    nb.screenshot("hostile-card")
    assert not nb.page_errors(), nb.console
