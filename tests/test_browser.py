"""The lab as a learner meets it: JupyterLab in a real browser, notebook 00 run through the menus, the chat box used.

Runs only under ``make browser-test`` (a minute or two; it trains notebook 00's LoRA in the ci
profile). It needs Chromium (Debian: ``apt install chromium``; set ``LABKIT_CHROMIUM`` for
another path) and Playwright's Python package (in labkit's ``test`` extra; its own browser
download is not needed). The screenshot lands in ``build/browser-test/`` (or ``$LABKIT_ARTIFACTS``).
"""

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LABKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
QUESTION = "What is the capital of Veloria?"

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LABKIT_BROWSER_TEST"), reason="browser test: run `make browser-test`"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found: apt install chromium, or set LABKIT_CHROMIUM"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of notebook 00 (autosave must not write into the repository)."""
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_welcome.ipynb", folder)
    # render every cell (JupyterLab 4 draws only the visible ones by default), so none escapes the checks
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = free_port(), "labkit-browser-test"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "LABKIT_PROFILE": "ci", "LABKIT_RUNS": str(tmp_path / "runs"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    command = [str(Path(os.sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, f"JupyterLab exited: {(tmp_path / 'server.log').read_text()[-800:]}"
                assert time.time() < deadline, "JupyterLab did not answer within 120 s"
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/lab/tree/00_welcome.ipynb?token={token}"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()


def error_outputs(page) -> list[str]:
    """Texts of outputs that are exceptions (a traceback, or a line such as ``DataError: ...``); warnings are not."""
    texts = [e.inner_text() for e in page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
    return [t for t in texts if "Traceback" in t or re.search(r"^\w*(Error|Exception)\b", t, re.M)]


def test_notebook_00_runs_in_the_browser_and_the_chat_box_answers(lab):
    from playwright.sync_api import sync_playwright

    artefacts = Path(os.environ.get("LABKIT_ARTIFACTS", ROOT / "build" / "browser-test"))
    artefacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached", timeout=90_000)
            page.click("li.lm-MenuBar-item:has-text('Run')")
            page.click("li.lm-Menu-item:has-text('Run All Cells')")
            # every code cell gets its execution count; none is left waiting ([*]) or unrun ([ ])
            page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText.trim());
                    return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
                }""", timeout=900_000, polling=2000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached", timeout=60_000)
            assert error_outputs(page) == []

            box = page.locator("input[placeholder='Ask the model something and press Enter']")
            box.scroll_into_view_if_needed()
            box.fill(QUESTION)
            box.press("Enter")
            reply = page.locator(".jp-OutputArea-output .jp-OutputArea-output:has-text('model:')").last
            reply.wait_for(timeout=120_000)
            text = reply.inner_text()
            page.screenshot(path=str(artefacts / "notebook00-chat.png"))
            assert f"you:   {QUESTION}" in text
            answer = text.split("model:", 1)[1].strip()
            assert len(answer) > 3, f"the chat box gave no reply: {text!r}"
            (artefacts / "notebook00-chat.txt").write_text(text + "\n")
        finally:
            browser.close()
