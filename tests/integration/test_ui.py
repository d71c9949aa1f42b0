"""The web interface in a real browser (Chromium through Selenium) against the real
binary: signing in and out, browsing an image pushed with skopeo, creating a project and
a robot through the forms and pushing with the robot, deleting a tag, and the refusals —
a guest's forged form, forms without their CSRF token, another site's sign-in."""

from __future__ import annotations

import time

import pytest
import requests

import images as im
from browser import NARROW, WIDE, Browser, form_sign_in, sign_in
from conftest import LOCAL_AUTH
from teams import DEVELOPER, GUEST, add_user, member_of
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


@pytest.fixture
def teams(make_registry):
    return make_registry(extra_config=LOCAL_AUTH)


@pytest.fixture
def browser(teams):
    b = Browser(teams.url)
    yield b
    b.quit()


def push(reg, layout, ref: str, creds: str, *extra: str, check: bool = True):
    return im.copy(layout.ref, f"docker://{reg.host}/{ref}", f"--dest-creds={creds}", *extra,
                   check=check)


def new_project(reg, name: str, public: bool = False):
    r = requests.post(f"{reg.url}/api/v2.0/projects", auth=("admin", admin_password(reg)),
                      json={"project_name": name, "metadata": {"public": str(public).lower()}},
                      timeout=30)
    assert r.status_code == 201, r.text


def v2_status(reg, ref: str, tag: str) -> int:
    r = requests.get(f"{reg.url}/v2/{ref}/manifests/{tag}", auth=("admin", admin_password(reg)),
                     headers={"Accept": im.OCI_MANIFEST + ", " + im.OCI_INDEX}, timeout=30)
    return r.status_code


def poll(check, what: str, timeout: float = 30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout}s")


def test_an_administrator_finds_an_image_manages_a_project_and_reclaims_space(
        teams, browser, workdir):
    reg, admin = teams, f"admin:{admin_password(teams)}"
    new_project(reg, "team")
    r = requests.post(f"{reg.url}/api/v2.0/users", auth=("admin", admin_password(reg)),
                      json={"username": "dev", "email": "dev@berth.test", "realname": "Dev Eloper",
                            "password": "Dev-password-1"}, timeout=30)
    assert r.status_code == 201, r.text
    single = im.build_image(workdir / "app", seed="ui-app", layers=3)
    push(reg, single, "team/app:v1", admin)
    push(reg, single, "team/app:v2", admin)
    multi = im.build_multiarch(workdir / "multi", seed="ui-multi")
    push(reg, multi, "team/tools/multi:latest", admin, "--all")

    # Signed out, the interface sends the visitor to sign in, then back where he was.
    browser.open("/projects/team")
    assert browser.path.startswith("/sign-in?next=")
    assert "Sign in to berth" in browser.heading()
    browser.screenshot("sign-in")
    browser.fill("#principal", "admin")
    browser.fill("#password", "wrong-password")
    browser.submit("form[action$='/sign-in']")
    assert "Wrong user name or password" in browser.text("[role=alert]")
    browser.fill("#principal", "admin")
    browser.fill("#password", admin_password(reg))
    browser.submit("form[action$='/sign-in']")
    assert browser.path == "/projects/team" and browser.heading() == "team"
    session = browser.cookie("berth_session")
    assert session

    # The dashboard: totals, projects, the storage plot.
    browser.open("/")
    assert browser.heading() == "Dashboard"
    assert "2\nrepositories" in browser.text(".stats")
    assert len(browser.all("svg.plot rect.plot-bar")) == 1, "the storage plot: a bar per project"
    pushes = browser.text("#recent-pushes")
    assert "team/tools/multi:latest" in pushes and "team/app:v1" in pushes
    assert "login" not in pushes
    # The storage trend: serve samples the registry's size as it starts (then hourly),
    # a day keeping its last sample; started again, today's sample is what it holds now.
    # The API refuses a range it does not keep, and non-administrators.
    def history():
        r = requests.get(f"{reg.url}/api/v2.0/statistics/history", timeout=30,
                         auth=("admin", admin_password(reg)))
        assert r.status_code == 200, r.text
        return r.json()
    stats = requests.get(f"{reg.url}/api/v2.0/statistics", timeout=30,
                         auth=("admin", admin_password(reg))).json()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    poll(lambda: history() and history()[-1]["date"] == today, "the start-up usage sample")
    assert history()[-1]["total_storage_consumption"] < stats["total_storage_consumption"], \
        "sampled before the pushes"
    reg.restart()
    poll(lambda: history()[-1]["total_storage_consumption"] == stats["total_storage_consumption"],
         "the usage sample of the restarted registry")
    assert [d["date"] for d in history()] == [today] and history()[-1]["total_repo_count"] == 2
    r = requests.get(f"{reg.url}/api/v2.0/statistics/history", params={"days": 0},
                     auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 400 and "1 to 366" in r.text
    r = requests.get(f"{reg.url}/api/v2.0/statistics/history", auth=("dev", "Dev-password-1"),
                     timeout=30)
    assert r.status_code == 403
    browser.open("/")
    assert browser.find("#storage-trend")
    browser.screenshot("dashboard")

    # Project → repository: its tags, sizes and the pull command.
    browser.click_link("Projects")
    browser.click_link("team")
    assert browser.all("a[href$='/repositories/app']") and "team/tools/multi" in browser.text()
    browser.screenshot("project")
    browser.click_link("team/app")
    assert browser.heading() == "app"
    tags = [t.text.split()[0] for t in browser.all("td.tags .tag")]
    assert sorted(tags) == ["v1", "v2"]
    pull = browser.find(".pull code").text
    assert pull.startswith(f"docker pull {reg.host}/team/app:")
    browser.screenshot("repository")

    # The artifact: digest, config, layers with their sizes, the manifest.
    browser.find(f"a[href$='/-/artifacts/{single.digest}']").click()
    assert browser.find("dd .copyable code").text == single.digest
    image = single.images[0]
    rows = browser.all("#layers tbody tr")
    assert len(rows) == len(image.layers) == 3
    for row, layer in zip(rows, image.layers):
        assert layer.digest[:19] in row.text, "each layer is listed by its digest, in order"
    configuration = browser.text("#configuration")
    assert "/bin/busybox sh" in configuration and "berth.test.seed" in configuration
    assert "images.py ui-app 2" in configuration, "the history is shown"
    browser.screenshot("artifact")

    # A multi-arch index: its platforms, each a page of its own.
    browser.open("/projects/team/repositories/tools/multi")
    details = browser.find("details.platforms")
    details.click()
    assert "linux/amd64" in details.text and "linux/arm64" in details.text
    browser.screenshot("repository-index")

    # A project and a robot, made through the forms; the robot pushes with skopeo.
    browser.open("/projects")
    browser.find("#new-project summary").click()
    browser.fill("#project-name", "web")
    browser.submit("#new-project form")
    assert browser.path == "/projects/web" and browser.heading() == "web"
    browser.click_link("Robot accounts")
    browser.fill("#robot-name", "ci")
    browser.fill("#robot-description", "pushes from CI")
    for permission in ("repository:pull", "repository:push"):
        browser.find(f"input[name=access][value='{permission}']").click()
    browser.submit("#new-robot form")
    name = browser.find("#robot-created-name code").text
    secret = browser.find("#robot-created-secret code").text
    assert name == "robot$web+ci" and len(secret) >= 8
    browser.screenshot("robot-created")
    push(reg, single, "web/app:v1", f"{name}:{secret}")
    assert push(reg, single, "team/app:robot", f"{name}:{secret}", check=False).returncode != 0
    browser.click_link("Done")
    assert "robot$web+ci" in browser.text("table")
    browser.screenshot("robots")

    # Deleting a tag: a page that says what happens, then it is gone through /v2.
    browser.open("/projects/team/repositories/app")
    browser.find("a[aria-label='Delete tag v1']").click()
    assert "Delete tag v1?" in browser.text()
    assert "The artifact stays, with its other tags" in browser.text()
    browser.screenshot("confirm-delete")
    browser.press("#confirm-delete")
    assert browser.path == "/projects/team/repositories/app"
    assert [t.text.split()[0] for t in browser.all("td.tags .tag")] == ["v2"]
    assert v2_status(reg, "team/app", "v1") == 404
    assert v2_status(reg, "team/app", "v2") == 200

    # Reclaiming space: a dry run of garbage collection from the administration page.
    browser.click_link("Administration")
    # As in Harbor, the first administrator is not among the users listed.
    assert "dev@berth.test" in browser.text("#users")
    browser.press("#gc button[value=dry-run]")

    def finished():
        browser.open("/admin")
        return "Success" in browser.text("#gc table")
    poll(finished, "the dry run finishing")
    assert "dry run" in browser.text("#gc table") and "would free" in browser.text("#gc table")
    browser.screenshot("admin")

    # The profile page, and signing out: the session is over for the API too.
    browser.find("a.user").click()
    assert browser.heading() == "Your profile" and "System administrator" in browser.text()
    browser.screenshot("profile")
    browser.press("form[action$='/sign-out'] button")
    assert browser.path == "/sign-in"
    assert browser.cookie("berth_session") is None
    r = requests.get(f"{reg.url}/api/v2.0/users/current", cookies={"berth_session": session},
                     timeout=30)
    assert r.status_code == 401
    browser.open("/")
    assert browser.path == "/sign-in"


def test_a_guest_sees_no_delete_and_forged_or_tokenless_forms_are_refused(
        teams, browser, workdir):
    reg, admin = teams, f"admin:{admin_password(teams)}"
    new_project(reg, "team")
    add_user(reg, "gina", "gina-password")
    member_of(reg, "team", "gina", GUEST)
    layout = im.build_image(workdir / "app", seed="ui-guest")
    push(reg, layout, "team/app:v1", admin)

    sign_in(browser, "gina", "gina-password")
    browser.open("/projects/team/repositories/app")
    assert [t.text for t in browser.all("td.tags .tag")] == ["v1"]
    assert not browser.all("a[aria-label^='Delete tag']"), "a guest has no delete links"
    assert "lets you pull, not delete" in browser.text()
    assert not browser.all("a[href$='/members']"), "a guest does not manage members"
    browser.screenshot("repository-guest")

    # The form posted anyway, with her session and her own valid token: the API refuses.
    cookies = {"berth_session": browser.cookie("berth_session")}
    form = f"{reg.url}/projects/team/repositories/app/-/delete-tag"
    r = requests.post(form, data={"csrf": browser.csrf(), "tag": "v1"}, cookies=cookies,
                      allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "Not allowed" in r.text
    assert v2_status(reg, "team/app", "v1") == 200

    # An administrator's forms without their token, or with another's: refused, nothing
    # changes. The API refuses a session's change without the header as well.
    admin_browser = Browser(reg.url)
    try:
        sign_in(admin_browser, "admin", admin_password(reg))
        admin_cookies = {"berth_session": admin_browser.cookie("berth_session")}
        for token in (None, "", browser.csrf()):
            data = {"tag": "v1"} if token is None else {"tag": "v1", "csrf": token}
            r = requests.post(form, data=data, cookies=admin_cookies, allow_redirects=False,
                              timeout=30)
            assert r.status_code == 403, (token, r.status_code)
            assert "CSRF" in r.text or "token" in r.text
        assert v2_status(reg, "team/app", "v1") == 200
        r = requests.post(f"{reg.url}/projects", data={"name": "forged"}, cookies=admin_cookies,
                          allow_redirects=False, timeout=30)
        assert r.status_code == 403
        r = requests.post(f"{reg.url}/api/v2.0/projects", json={"project_name": "forged"},
                          cookies=admin_cookies, timeout=30)
        assert r.status_code == 403
        r = requests.get(f"{reg.url}/api/v2.0/projects/forged", auth=tuple(admin.split(":", 1)),
                         timeout=30)
        assert r.status_code == 404
        # With the page's own token the same form works (the refusals were the token's).
        r = requests.post(form, data={"csrf": admin_browser.csrf(), "tag": "v1"},
                          cookies=admin_cookies, allow_redirects=False, timeout=30)
        assert r.status_code == 303
        assert v2_status(reg, "team/app", "v1") == 404
    finally:
        admin_browser.quit()

    # Removing a user ends her sessions at once.
    r = requests.get(f"{reg.url}/api/v2.0/users", params={"username": "gina"},
                     auth=tuple(admin.split(":", 1)), timeout=30)
    gina_id = r.json()[0]["user_id"]
    r = requests.delete(f"{reg.url}/api/v2.0/users/{gina_id}", auth=tuple(admin.split(":", 1)),
                        timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(f"{reg.url}/api/v2.0/users/current", cookies=cookies, timeout=30)
    assert r.status_code == 401
    browser.open("/projects/team")
    assert browser.path.startswith("/sign-in?next=")

    # Another site cannot sign a browser in: the sign-in form's token must match the
    # cookie only berth's own form page sets.
    r = requests.post(f"{reg.url}/sign-in", allow_redirects=False, timeout=30,
                      data={"principal": "gina", "password": "gina-password", "csrf": "x"})
    assert r.status_code == 403 and "berth_session" not in r.headers.get("Set-Cookie", "")


def test_public_projects_are_browsable_signed_out_and_pages_fit_a_phone(teams, browser, workdir):
    reg, admin = teams, f"admin:{admin_password(teams)}"
    new_project(reg, "pub", public=True)
    new_project(reg, "private")
    layout = im.build_image(workdir / "app", seed="ui-public", layers=2)
    push(reg, layout, "pub/app:v1", admin)
    push(reg, layout, "private/app:v1", admin)

    # Signed out: the public project and its images, no private ones, no delete.
    browser.open("/projects")
    assert "pub" in browser.text("table") and "private" not in browser.text("table")
    browser.click_link("pub")
    browser.click_link("pub/app")
    assert [t.text for t in browser.all("td.tags .tag")] == ["v1"]
    assert not browser.all("a[aria-label^='Delete tag']")
    browser.open("/projects/private/repositories/app")
    assert browser.path.startswith("/sign-in?next=")

    # At 360 px every page fits the width (tables scroll inside their box), and every
    # control has an accessible name.
    sign_in(browser, "admin", admin_password(reg))
    browser.resize(NARROW)
    digest = layout.digest
    pages = ["/", "/projects", "/projects/pub", "/projects/pub/members", "/projects/pub/robots",
             "/projects/pub/repositories/app", f"/projects/pub/repositories/app/-/artifacts/{digest}",
             "/projects/pub/repositories/app/-/delete?tag=v1", "/projects/pub/policies",
             "/projects/pub/activity", "/projects/pub/settings", "/admin", "/admin/storage",
             "/profile"]
    for path in pages:
        browser.open(path)
        browser.find("main")
        # The forms that open from a summary line are checked opened.
        for summary in browser.all("main details:not(.platforms) > summary"):
            summary.click()
        assert browser.page_width() <= NARROW[0], f"{path} is wider than the screen"
        assert browser.unnamed_controls() == [], path
    browser.open("/projects/pub/repositories/app")
    browser.screenshot("narrow-repository")
    browser.open("/")
    browser.screenshot("narrow-dashboard")
    browser.resize(WIDE)

    # The keyboard reaches the content first: the skip link, then the navigation.
    browser.open("/projects")
    browser.find("body").send_keys("\t")
    active = browser.driver.switch_to.active_element
    assert active.text == "Skip to content"


def test_a_projects_policies_activity_and_a_retention_dry_run(teams, browser, workdir):
    reg, admin = teams, f"admin:{admin_password(teams)}"
    auth = tuple(admin.split(":", 1))
    new_project(reg, "team")
    project_id = requests.get(f"{reg.url}/api/v2.0/projects/team", auth=auth,
                              timeout=30).json()["project_id"]
    for tag in ("a", "b", "c"):
        push(reg, im.build_image(workdir / tag, seed=f"ui-policy-{tag}"), f"team/app:{tag}",
             admin)
    everything = {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                  "pattern": "**"}]}
    r = requests.post(f"{reg.url}/api/v2.0/projects/team/immutabletagrules", auth=auth,
                      timeout=30, json={
                          "action": "immutable", "template": "immutable_template",
                          "tag_selectors": [{"kind": "doublestar", "decoration": "matches",
                                             "pattern": "c"}],
                          "scope_selectors": everything})
    assert r.status_code == 201, r.text
    r = requests.post(f"{reg.url}/api/v2.0/retentions", auth=auth, timeout=30, json={
        "algorithm": "or",
        "rules": [{"action": "retain", "template": "latestPushedK",
                   "params": {"latestPushedK": 1},
                   "tag_selectors": [{"kind": "doublestar", "decoration": "matches",
                                      "pattern": "**"}],
                   "scope_selectors": everything}],
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
        "scope": {"level": "project", "ref": project_id}})
    assert r.status_code == 201, r.text
    r = requests.post(f"{reg.url}/api/v2.0/projects/team/webhook/policies", auth=auth,
                      timeout=30, json={
                          "name": "ci-hook", "enabled": True, "event_types": ["PUSH_ARTIFACT"],
                          "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}]})
    assert r.status_code == 201, r.text

    sign_in(browser, "admin", admin_password(reg))
    browser.open("/projects/team")
    browser.click_link("Policies")
    assert "matching c" in browser.text("#immutable")
    assert "the 1 most recently pushed" in browser.text("#retention")
    assert "http://127.0.0.1:9/hook" in browser.text("#webhooks")
    browser.screenshot("policies")

    # The dry run says what would go — the two older artifacts — and deletes nothing.
    browser.press("#retention-dry-run")
    assert browser.path.startswith("/projects/team/retention/")

    def decided():
        browser.driver.refresh()
        return "would delete" in browser.text("#retention-run")
    poll(decided, "the dry run finishing")
    run = browser.text("#retention-run")
    assert "would delete 2 artifacts in 1 repository" in run
    assert run.count("would be deleted") == 2 and "kept" in run
    browser.screenshot("retention-dry-run")
    for tag in ("a", "b", "c"):
        assert v2_status(reg, "team/app", tag) == 200
    # The dashboard lists the run, linked to its page.
    run_path = browser.path
    browser.open("/")
    runs = browser.text("#retention-runs")
    assert "team #" in runs and "dry run" in runs and "Success" in runs
    browser.find("#retention-runs a").click()
    assert browser.path == run_path

    # The project's activity: the pushes, newest first.
    browser.open("/projects/team")
    browser.click_link("Activity")
    log = browser.text("#activity")
    assert "team/app:a" in log and "team/app:c" in log
    assert log.index("team/app:c") < log.index("team/app:a")
    browser.screenshot("activity")

    # Administration: the settings the configuration API reports, and the sign-in method.
    browser.open("/admin")
    assert "project_creation_restriction" in browser.text("#settings")
    assert "berth's own users and passwords" in browser.text("#sign-in-methods")
    browser.screenshot("admin-settings")
    browser.click_link("Storage by project →")
    assert "team" in browser.text("#storage table") and browser.all("#storage svg rect.plot-bar")
    browser.screenshot("admin-storage")


def test_an_administrator_manages_users_and_members_without_the_command_line(teams, browser):
    reg = teams
    auth = ("admin", admin_password(reg))
    new_project(reg, "team")
    sign_in(browser, "admin", admin_password(reg))

    # A user made on the administration page signs in to the registry at once.
    browser.open("/admin")
    browser.find("#new-user summary").click()
    browser.fill("#new-username", "newbie")
    browser.fill("#new-email", "newbie@berth.test")
    browser.fill("#new-realname", "New Bie")
    browser.fill("#new-user-password", "Newbie-password-1")
    browser.submit("#new-user form")
    assert "newbie@berth.test" in browser.text("#users")
    assert requests.get(f"{reg.url}/api/v2.0/users/current", auth=("newbie", "Newbie-password-1"),
                        timeout=30).status_code == 200

    # Given a role in a project, changed, and removed — each checked through the API.
    browser.open("/projects/team/members")
    browser.fill("#member-name", "newbie")
    browser.submit("form[action$='/members']")

    def role_of(name):
        members = requests.get(f"{reg.url}/api/v2.0/projects/team/members", auth=auth,
                               timeout=30).json()
        return next((m["role_id"] for m in members if m["entity_name"] == name), None)
    assert role_of("newbie") == 2, "added as a developer (the form's default)"
    select = browser.find("select[aria-label='Role of newbie']")
    select.find_element("css selector", "option[value='4']").click()
    browser.press("button[aria-label='Change the role of newbie']")
    assert role_of("newbie") == 4
    browser.screenshot("members")
    browser.press("button[aria-label='Remove newbie']")
    assert role_of("newbie") is None

    # Made an administrator and back, then removed: the account stops working.
    browser.open("/admin?name=newbie")
    browser.press("button[aria-label='Make newbie an administrator']")
    me = requests.get(f"{reg.url}/api/v2.0/users/current", auth=("newbie", "Newbie-password-1"),
                      timeout=30).json()
    assert me["sysadmin_flag"] is True
    browser.open("/admin?name=newbie")
    browser.press("button[aria-label='Make newbie a user']")
    browser.open("/admin?name=newbie")
    browser.press("button[aria-label='Remove newbie']")
    assert requests.get(f"{reg.url}/api/v2.0/users/current", auth=("newbie", "Newbie-password-1"),
                        timeout=30).status_code == 401

    # A bad form gets the API's reason on a page of its own, and changes nothing.
    browser.open("/admin")
    browser.find("#new-user summary").click()
    browser.fill("#new-username", "shorty")
    browser.driver.execute_script(
        "document.getElementById('new-user-password').removeAttribute('minlength')")
    browser.fill("#new-user-password", "short")
    browser.submit("#new-user form")
    assert "8" in browser.text("[role=alert]")
    r = requests.get(f"{reg.url}/api/v2.0/users", params={"username": "shorty"}, auth=auth,
                     timeout=30)
    assert r.json() == []


def api_get(reg, path: str):
    r = requests.get(f"{reg.url}/api/v2.0{path}", auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def open_form(browser, details: str):
    """Opens the <details> that holds a form (its summary line), as a user clicks it."""
    browser.find(f"{details} summary").click()


def test_policies_are_written_and_changed_through_the_forms(teams, browser, workdir):
    reg, admin = teams, f"admin:{admin_password(teams)}"
    new_project(reg, "team")
    for tag in ("a", "b", "c"):
        push(reg, im.build_image(workdir / tag, seed=f"ui-forms-{tag}"), f"team/app:{tag}", admin)
    sign_in(browser, "admin", admin_password(reg))
    browser.open("/projects/team/policies")

    # An immutable-tag rule from the form: tag c can no longer be deleted.
    open_form(browser, "#new-immutable-rule")
    browser.fill("#immutable-tags", "c")
    browser.submit("#new-immutable-rule form")
    assert browser.path == "/projects/team/policies#immutable"
    rules = api_get(reg, "/projects/team/immutabletagrules")
    assert [(r["tag_selectors"][0]["pattern"], r["scope_selectors"]["repository"][0]["pattern"],
             r["disabled"]) for r in rules] == [("c", "**", False)]
    r = requests.delete(f"{reg.url}/api/v2.0/projects/team/repositories/app/artifacts/c/tags/c",
                        auth=("admin", admin_password(reg)), timeout=30)
    assert r.status_code == 412, r.text
    rule = "the rule for tags matching c in all repositories"
    browser.press(f"button[aria-label='Disable {rule}']")
    assert api_get(reg, "/projects/team/immutabletagrules")[0]["disabled"] is True
    browser.press(f"button[aria-label='Enable {rule}']")
    assert api_get(reg, "/projects/team/immutabletagrules")[0]["disabled"] is False

    # The first retention rule creates the policy; a second is added and removed again;
    # the schedule is saved; a dry run of the form's rule decides as it says.
    open_form(browser, "#new-retention-rule")
    browser.fill("#retention-count", "1")
    browser.submit("#new-retention-rule form")
    policy_id = api_get(reg, "/projects/team")["metadata"]["retention_id"]
    rules = api_get(reg, f"/retentions/{policy_id}")["rules"]
    assert [(r["template"], r["params"]) for r in rules] == [("latestPushedK", {"latestPushedK": 1})]
    open_form(browser, "#new-retention-rule")
    browser.find("#retention-template option[value='nDaysSinceLastPush']").click()
    browser.fill("#retention-count", "7")
    browser.fill("#retention-tags", "release-*")
    browser.submit("#new-retention-rule form")
    rules = api_get(reg, f"/retentions/{policy_id}")["rules"]
    assert [r["template"] for r in rules] == ["latestPushedK", "nDaysSinceLastPush"]
    assert "those pushed in the last 7 days" in browser.text("#retention")
    browser.press("button[aria-label^='Delete the rule keeping those pushed in the last 7 days']")
    assert [r["template"] for r in api_get(reg, f"/retentions/{policy_id}")["rules"]] == \
        ["latestPushedK"]
    browser.fill("#retention-cron", "0 0 3 * * *")
    browser.submit("form[action$='/retention/schedule']")
    assert api_get(reg, f"/retentions/{policy_id}")["trigger"]["settings"]["cron"] == "0 0 3 * * *"
    assert "0 0 3 * * *" in browser.text("#retention")
    browser.press("#retention-dry-run")

    def decided():
        browser.driver.refresh()
        return "would delete" in browser.text("#retention-run")
    poll(decided, "the dry run finishing")
    assert "would delete 2 artifacts in 1 repository" in browser.text("#retention-run")

    # A webhook from the form, with the events ticked; switched off; deleted. A form
    # without events is refused, saying so, and creates nothing.
    browser.open("/projects/team/policies")
    open_form(browser, "#new-webhook")
    browser.fill("#webhook-name", "ci-hook")
    browser.fill("#webhook-address", "http://127.0.0.1:9/hook")
    browser.fill("#webhook-auth", "Bearer hook-secret")
    browser.find("#new-webhook input[value='DELETE_ARTIFACT']").click()
    browser.screenshot("policy-forms")
    browser.submit("#new-webhook form")
    hooks = api_get(reg, "/projects/team/webhook/policies")
    assert [(h["name"], sorted(h["event_types"]), h["enabled"]) for h in hooks] == \
        [("ci-hook", ["DELETE_ARTIFACT", "PUSH_ARTIFACT"], True)]
    assert hooks[0]["targets"][0]["auth_header"] == "Bearer hook-secret"
    assert "push artifact" in browser.text("#webhooks")
    browser.screenshot("policies-written")
    browser.press("button[aria-label='Disable the webhook ci-hook']")
    assert api_get(reg, "/projects/team/webhook/policies")[0]["enabled"] is False
    assert api_get(reg, "/projects/team/webhook/policies")[0]["targets"][0]["auth_header"] == \
        "Bearer hook-secret", "switching keeps the rest of the policy"
    browser.press("button[aria-label='Delete the webhook ci-hook']")
    assert api_get(reg, "/projects/team/webhook/policies") == []
    open_form(browser, "#new-webhook")
    browser.fill("#webhook-name", "silent")
    browser.fill("#webhook-address", "http://127.0.0.1:9/hook")
    browser.find("#new-webhook input[value='PUSH_ARTIFACT']").click()
    browser.submit("#new-webhook form")
    assert "pick at least one event" in browser.text("[role=alert]")
    assert api_get(reg, "/projects/team/webhook/policies") == []


def test_project_settings_make_it_public_limit_its_storage_and_delete_it(teams, browser, workdir):
    reg, admin = teams, f"admin:{admin_password(teams)}"
    new_project(reg, "team")
    add_user(reg, "devi", "devi-password")
    member_of(reg, "team", "devi", DEVELOPER)
    push(reg, im.build_image(workdir / "app", seed="ui-settings"), "team/app:v1", admin)
    anonymous_pull = lambda: im.copy(f"docker://{reg.host}/team/app:v1",
                                     f"dir:{workdir}/pulled-{time.monotonic_ns()}", check=False)
    assert anonymous_pull().returncode != 0

    # A developer has no settings tab, and the page refuses him.
    devi, _ = form_sign_in(reg.url, "devi", "devi-password")
    assert "/projects/team/settings" not in devi.get(f"{reg.url}/projects/team", timeout=30).text
    assert devi.get(f"{reg.url}/projects/team/settings", timeout=30).status_code == 403

    # Made public: anyone pulls.
    sign_in(browser, "admin", admin_password(reg))
    browser.open("/projects/team")
    browser.click_link("Settings")
    browser.find("#visibility input[value='true']").click()
    browser.submit("#visibility form")
    assert api_get(reg, "/projects/team")["metadata"]["public"] == "true"
    assert anonymous_pull().returncode == 0

    # A quota below what the project holds: the next push is refused; lifted, it works.
    browser.fill("#quota-limit", "1 KiB")
    browser.submit("#quota form")
    project_id = api_get(reg, "/projects/team")["project_id"]
    assert api_get(reg, f"/quotas/{project_id}")["hard"]["storage"] == 1024
    assert "1024 B" in browser.text("#quota") or "1.0 KiB" in browser.text("#quota")
    browser.screenshot("project-settings")
    other = im.build_image(workdir / "other", seed="ui-settings-2")
    assert push(reg, other, "team/other:v1", admin, check=False).returncode != 0
    assert v2_status(reg, "team/other", "v1") == 404
    browser.fill("#quota-limit", "lots")
    browser.submit("#quota form")
    assert "not a size" in browser.text("[role=alert]")
    assert api_get(reg, f"/quotas/{project_id}")["hard"]["storage"] == 1024
    browser.open("/projects/team/settings")
    browser.fill("#quota-limit", "")
    browser.submit("#quota form")
    assert api_get(reg, f"/quotas/{project_id}")["hard"]["storage"] == -1
    push(reg, other, "team/other:v1", admin)

    # Deletion waits for the repositories to go, then needs the name typed.
    assert "Delete its repositories first" in browser.text("#delete-project")
    for repo in ("app", "other"):
        r = requests.delete(f"{reg.url}/api/v2.0/projects/team/repositories/{repo}",
                            auth=("admin", admin_password(reg)), timeout=30)
        assert r.status_code == 200, r.text
    browser.open("/projects/team/settings")
    browser.fill("#delete-confirm", "teams")
    browser.submit("#delete-project form")
    assert "type the project's name" in browser.text("[role=alert]")
    assert api_get(reg, "/projects/team")["name"] == "team"
    browser.open("/projects/team/settings")
    browser.fill("#delete-confirm", "team")
    browser.submit("#delete-project form")
    assert browser.path == "/projects"
    r = requests.get(f"{reg.url}/api/v2.0/projects/team", auth=("admin", admin_password(reg)),
                     timeout=30)
    assert r.status_code == 404


def test_a_system_robot_made_on_the_administration_page_works_in_its_projects_only(
        teams, browser, workdir):
    reg = teams
    for name in ("alpha", "beta", "gamma"):
        new_project(reg, name)
    sign_in(browser, "admin", admin_password(reg))
    browser.open("/admin")
    open_form(browser, "#new-system-robot")
    browser.fill("#robot-name", "deployer")
    browser.fill("#robot-projects", "alpha, beta")
    for access in ("repository:pull", "repository:push"):
        browser.find(f"#new-system-robot input[value='{access}']").click()
    browser.submit("#new-system-robot form")
    name = browser.text("#robot-created-name code")
    secret = browser.text("#robot-created-secret code")
    assert name.endswith("deployer") and secret
    layout = im.build_image(workdir / "app", seed="ui-system-robot")
    creds = f"{name}:{secret}"
    assert push(reg, layout, "alpha/app:v1", creds, check=False).returncode == 0
    assert push(reg, layout, "beta/app:v1", creds, check=False).returncode == 0
    assert push(reg, layout, "gamma/app:v1", creds, check=False).returncode != 0
    assert v2_status(reg, "gamma/app", "v1") == 404

    browser.click_link("Done")
    table = browser.text("#system-robots")
    assert name in table and "alpha" in table and "beta" in table and "repository:push" in table
    browser.screenshot("admin-access")
    # Deleted, it stops working at once.
    browser.press(f"button[aria-label='Delete {name}']")
    assert name not in browser.text("#system-robots")
    assert push(reg, layout, "alpha/app:v2", creds, check=False).returncode != 0
