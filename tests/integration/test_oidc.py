"""Signing in through a real OpenID Connect provider (oidc-provider-mock): the browser's
authorization-code flow through the real binary, the provider's groups holding project
roles, an administrators' group, and the per-user CLI secret that skopeo and `docker
login` use, as in Harbor."""

from __future__ import annotations

import re

import pytest
import requests
from harborapi.exceptions import Conflict
from harborapi.models import ProjectMember, ProjectReq, UserGroup

import images as im
from identity_provider import Provider, browser_sign_in
from teams import DEVELOPER, Harbor
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


@pytest.fixture
def provider():
    p = Provider([
        {"sub": "erin-sub", "preferred_username": "erin", "email": "erin@berth.test",
         "name": "Erin Dev", "groups": ["platform"]},
        {"sub": "olga-sub", "preferred_username": "olga", "groups": ["registry-admins"]},
        {"sub": "nameless", "email": "x@berth.test"},
    ])
    yield p
    p.stop()


def test_people_sign_in_in_the_browser_and_push_with_their_cli_secret(make_registry, provider,
                                                                      workdir):
    reg = make_registry(extra_config=provider.berth_config())
    admin = Harbor(reg, "admin", admin_password(reg))
    assert admin.get_system_info().auth_mode == "oidc_auth"
    admin.create_project(ProjectReq(project_name="team"))
    # The provider's group holds a role before anyone from it has signed in: added as a
    # user group first (Harbor's group_type 3), then as a member by its id.
    admin.create_usergroup(UserGroup(group_name="platform", group_type=3))
    [platform] = admin.search_usergroups("platform")
    with pytest.raises(Conflict):
        admin.create_usergroup(UserGroup(group_name="platform", group_type=3))
    r = requests.post(f"{reg.url}/api/v2.0/usergroups", auth=("admin", admin_password(reg)),
                      json={"group_type": 3}, timeout=30)
    assert r.status_code == 400 and "group_name" in r.text, r.text
    admin.add_project_member("team", ProjectMember(role_id=DEVELOPER, member_group={
        "id": platform.id}))

    page, secret = browser_sign_in(reg, "erin-sub")
    assert page.status_code == 200 and "Signed in as <strong>erin</strong>" in page.text
    assert secret and len(secret) == 32
    assert "no-store" in page.headers["Cache-Control"]
    layout = im.build_image(workdir / "img", seed="oidc")
    push = lambda creds: im.copy(layout.ref, f"docker://{reg.host}/team/app:v1",
                                 f"--dest-creds={creds}", check=False).returncode
    assert push(f"erin:{secret}") == 0, "platform is developer in team"
    assert push("erin:not-the-secret") != 0

    # The user was added with the provider's profile; a later sign-in keeps the secret.
    erin = Harbor(reg, "erin", secret)
    me = erin.get_current_user()
    assert (me.email, me.realname) == ("erin@berth.test", "Erin Dev")
    # A later sign-in goes straight to the web interface, signed in by its session cookie.
    browser = requests.Session()
    again, shown = browser_sign_in(reg, "erin-sub", browser)
    assert again.status_code == 303 and again.headers["Location"] == "/" and shown is None
    assert "berth_session=" in again.headers["Set-Cookie"]
    assert push(f"erin:{secret}") == 0

    # Her profile page makes a new CLI secret (shown once); the old one stops.
    profile = browser.get(f"{reg.url}/profile", timeout=30)
    assert profile.status_code == 200 and "Make a new CLI secret" in profile.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', profile.text).group(1)
    made = browser.post(f"{reg.url}/profile/cli-secret", data={"csrf": csrf}, timeout=30)
    assert made.status_code == 200, made.text
    fresh = re.search(r'<p id="cli-secret-shown">.*?<code>([^<]+)</code>', made.text).group(1)
    assert push(f"erin:{fresh}") == 0 and push(f"erin:{secret}") != 0
    secret = fresh

    # Her own new secret, set with the current one; the old one stops.
    r = requests.put(f"{reg.url}/api/v2.0/users/{me.user_id}/cli_secret", auth=("erin", secret),
                     json={"secret": "Chosen-cli-secret-9"}, timeout=30)
    assert r.status_code == 200, r.text
    assert push(f"erin:{secret}") != 0 and push("erin:Chosen-cli-secret-9") == 0
    r = requests.put(f"{reg.url}/api/v2.0/users/{me.user_id}/cli_secret",
                     auth=("erin", "Chosen-cli-secret-9"), json={"secret": "weak"}, timeout=30)
    assert r.status_code == 400

    # The administrators' group makes olga a system administrator.
    olga_browser = requests.Session()
    _, olga_secret = browser_sign_in(reg, "olga-sub", olga_browser)
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("olga", olga_secret), timeout=30)
    assert r.status_code == 200 and {u["username"] for u in r.json()} == {"erin", "olga"}
    # As an administrator she tests the provider from the web interface.
    admin_page = olga_browser.get(f"{reg.url}/admin", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin_page.text).group(1)
    r = olga_browser.post(f"{reg.url}/admin/test-sign-in", data={"csrf": csrf, "what": "oidc"},
                          timeout=30)
    assert r.status_code == 200 and "The OIDC provider works" in r.text, r.text[-2000:]
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("erin", "Chosen-cli-secret-9"), timeout=30)
    assert r.status_code == 403


def test_a_callback_this_browser_did_not_start_is_refused(make_registry, provider):
    reg = make_registry(extra_config=provider.berth_config())
    # An attacker's own sign-in, its callback URL planted in a victim's browser: the
    # victim's browser holds no (or another) state cookie.
    attacker = requests.Session()
    start = attacker.get(f"{reg.url}/c/oidc/login", allow_redirects=False, timeout=30)
    form = start.headers["Location"]
    chosen = attacker.post(form, data={"sub": "erin-sub"}, allow_redirects=False, timeout=30)
    planted = chosen.headers["Location"]
    victim = requests.get(planted, allow_redirects=False, timeout=30)
    assert victim.status_code == 401 and "did not start a sign-in" in victim.text
    other = requests.Session()
    other.get(f"{reg.url}/c/oidc/login", allow_redirects=False, timeout=30)
    mixed = other.get(planted, allow_redirects=False, timeout=30)
    assert mixed.status_code == 401 and "does not match" in mixed.text
    # A token without the user claim says which claim is missing.
    page, secret = browser_sign_in(reg, "nameless")
    assert page.status_code == 401 and "preferred_username" in page.text and secret is None
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("admin", admin_password(reg)), timeout=30)
    assert r.json() == [], "nobody was added by the refused sign-ins"


def test_without_oidc_configured_the_sign_in_paths_say_so(make_registry):
    reg = make_registry(extra_config="auth:\n  local:\n    service: test-registry\n")
    r = requests.get(f"{reg.url}/c/oidc/login", allow_redirects=False, timeout=30)
    assert r.status_code == 404 and "berth.oidc.endpoint" in r.text
    r = requests.post(f"{reg.url}/api/v2.0/usergroups", auth=("admin", admin_password(reg)),
                      json={"group_name": "platform", "group_type": 3}, timeout=30)
    assert r.status_code == 400 and "berth.oidc" in r.text, r.text


def test_administrators_test_a_provider_before_configuring_it(make_registry, provider):
    """Harbor's "test OIDC server": POST /system/oidc/ping reads the discovery document and
    keys, needing no berth.oidc section yet."""
    reg = make_registry(extra_config="auth:\n  local:\n    service: test-registry\n")
    admin = ("admin", admin_password(reg))
    ping = f"{reg.url}/api/v2.0/system/oidc/ping"
    r = requests.post(ping, auth=admin, json={"url": provider.url, "verify_cert": True}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(ping, auth=admin, json={"url": f"{provider.url}/nowhere"}, timeout=30)
    assert r.status_code == 400 and "404" in r.text, r.text
    # berth itself answers, but is no OIDC provider.
    r = requests.post(ping, auth=admin, json={"url": reg.url}, timeout=30)
    assert r.status_code == 400, r.text
    r = requests.post(ping, auth=admin, json={"url": "ftp://example"}, timeout=30)
    assert r.status_code == 400, r.text
    assert requests.post(ping, json={"url": provider.url}, timeout=30).status_code == 401
