"""Users and groups from a real OpenLDAP directory (slapd): people sign in with their
directory password over StartTLS, directory groups hold project roles, an administrators'
group makes system administrators, and Harbor's LDAP and user-group endpoints work with
`harborapi`. berth's own users keep signing in beside them."""

from __future__ import annotations

import pytest
import requests
from harborapi.exceptions import Conflict, Forbidden, NotFound
from harborapi.models import LdapConf, ProjectMember, ProjectReq, UserEntity, UserGroup

import images as im
from browser import form_sign_in
from directory import GROUPS, PEOPLE, ROOT_DN, Slapd
from teams import DEVELOPER, GUEST, Harbor
from test_auth import admin_password

pytestmark = pytest.mark.berth_only


@pytest.fixture
def slapd():
    server = Slapd.start_new()
    server.add_person("ann", "ann-ldap-pw", "Ann Lee", "ann@berth.test")
    server.add_person("bob", "bob-ldap-pw", "Bob Ops")
    server.add_person("cat", "cat-ldap-pw", "Cat Tester", "cat@berth.test")
    server.add_group("devs", "ann")
    server.add_group("ops-admins", "bob")
    yield server
    server.remove()


def devs_member(role: int = DEVELOPER) -> ProjectMember:
    return ProjectMember(role_id=role, member_group={
        "group_name": "devs", "group_type": 1, "ldap_group_dn": f"cn=devs,{GROUPS}"})


def test_directory_people_sign_in_and_their_groups_hold_roles(make_registry, slapd, workdir):
    reg = make_registry(extra_config=slapd.berth_config())
    admin = Harbor(reg, "admin", admin_password(reg))
    assert admin.get_system_info().auth_mode == "ldap_auth"
    admin.create_project(ProjectReq(project_name="team"))
    admin.add_project_member("team", devs_member())
    layout = im.build_image(workdir / "img", seed="ldap")

    # ann is in devs, which is developer in team: she pushes with her directory password.
    push = lambda creds, tag: im.copy(layout.ref, f"docker://{reg.host}/team/app:{tag}",
                                      f"--dest-creds={creds}", check=False)
    assert push("ann:ann-ldap-pw", "v1").returncode == 0
    assert push("ann:wrong-password", "v2").returncode != 0
    refused = push("cat:cat-ldap-pw", "v3")
    assert refused.returncode != 0, "cat holds no role in team"
    r = requests.post(f"{reg.url}/v2/team/app/blobs/uploads/", auth=("cat", "cat-ldap-pw"),
                      timeout=30)
    assert r.status_code == 403 and "user cat has no role in project team" in r.text

    # The first sign-in made ann a user of berth's, with the directory's profile.
    ann = Harbor(reg, "ann", "ann-ldap-pw")
    me = ann.get_current_user()
    assert (me.username, me.email, me.realname) == ("ann", "ann@berth.test", "Ann Lee")
    assert [p.name for p in ann.get_projects()] == ["team"]
    # Her password is the directory's to change.
    r = requests.put(f"{reg.url}/api/v2.0/users/{me.user_id}/password", auth=("ann", "ann-ldap-pw"),
                     json={"old_password": "ann-ldap-pw", "new_password": "Another-pw-1"}, timeout=30)
    assert r.status_code == 403 and "directory" in r.text

    # bob is in the administrators' group: a system administrator without a role anywhere.
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("bob", "bob-ldap-pw"), timeout=30)
    assert r.status_code == 200, r.text
    assert {u["username"] for u in r.json()} == {"ann", "bob", "cat"}, "user 1 is left out, as in Harbor"
    assert Harbor(reg, "bob", "bob-ldap-pw").get_current_user().sysadmin_flag is False, \
        "administration comes from the directory, not the user's own flag"
    r = requests.get(f"{reg.url}/api/v2.0/users", auth=("ann", "ann-ldap-pw"), timeout=30)
    assert r.status_code == 403

    # berth's own administrator still signs in with berth's password.
    assert push(f"admin:{admin_password(reg)}", "v4").returncode == 0
    # A token issued to ann carries her group's role: pull with it.
    t = requests.get(f"{reg.url}/auth/token", auth=("ann", "ann-ldap-pw"), timeout=30,
                     params={"service": "test-registry", "scope": "repository:team/app:pull,push"})
    assert t.status_code == 200
    r = requests.get(f"{reg.url}/v2/team/app/tags/list", timeout=30,
                     headers={"Authorization": f"Bearer {t.json()['token']}"})
    assert r.status_code == 200 and "v1" in r.json()["tags"]

    # The web interface signs her in with the directory's password, and shows her project;
    # the administrator's test of the directory says it works.
    ann_browser, _ = form_sign_in(reg.url, "ann", "ann-ldap-pw")
    page = ann_browser.get(f"{reg.url}/projects/team", timeout=30)
    assert page.status_code == 200 and "team/app" in page.text
    admin_browser, csrf_of = form_sign_in(reg.url, "admin", admin_password(reg))
    r = admin_browser.post(f"{reg.url}/admin/test-sign-in", timeout=30,
                           data={"csrf": csrf_of("/admin"), "what": "ldap"})
    assert r.status_code == 200 and "The LDAP directory works" in r.text, r.text[-2000:]

    # A directory group added on the administration page by its DN (the name is the
    # directory's), then removed; a DN the directory lacks is refused, naming it.
    slapd.add_group("release-managers", "cat")
    before = {g.group_name for g in admin.get_usergroups()}
    r = admin_browser.post(f"{reg.url}/admin/groups", timeout=30, data={
        "csrf": csrf_of("/admin"), "group_type": "1",
        "ldap_group_dn": f"cn=release-managers,{GROUPS}"})
    assert r.status_code == 200 and "release-managers" in r.text, r.text[-2000:]
    added = {g.group_name: g for g in admin.get_usergroups()}["release-managers"]
    assert added.ldap_group_dn == f"cn=release-managers,{GROUPS}"
    r = admin_browser.post(f"{reg.url}/admin/groups", timeout=30, data={
        "csrf": csrf_of("/admin"), "group_type": "1", "ldap_group_dn": f"cn=nobody,{GROUPS}"})
    assert r.status_code == 400 and f"cn=nobody,{GROUPS}" in r.text
    r = admin_browser.post(f"{reg.url}/admin/groups/{added.id}/delete", timeout=30,
                           data={"csrf": csrf_of("/admin")})
    assert r.status_code == 200
    assert {g.group_name for g in admin.get_usergroups()} == before


def test_harbors_ldap_and_user_group_endpoints(make_registry, slapd):
    reg = make_registry(extra_config=slapd.berth_config())
    admin = Harbor(reg, "admin", admin_password(reg))
    assert admin.ping_ldap().success
    failed = admin.ping_ldap(LdapConf(ldap_search_dn=ROOT_DN, ldap_search_password="wrong"))
    assert not failed.success and "cannot bind" in failed.message
    unreachable = admin.ping_ldap(LdapConf(ldap_url="ldap://127.0.0.1:1"))
    assert not unreachable.success and "cannot reach" in unreachable.message
    config = admin.get_config()
    assert config.auth_mode.value == "ldap_auth"
    assert (config.ldap_url.value, config.ldap_base_dn.value) == (slapd.url, PEOPLE)
    assert config.ldap_group_admin_dn.value == f"cn=ops-admins,{GROUPS}"
    assert config.ldap_scope.value == 2 and config.ldap_timeout.value == 5

    found = admin.search_ldap_users("a")
    assert {(u.username, u.email) for u in found} >= {("ann", "ann@berth.test"),
                                                      ("cat", "cat@berth.test")}
    assert [u.username for u in admin.search_ldap_users("bo")] == ["bob"]

    # Import before the first sign-in, so a project admin can add them by name.
    r = requests.post(f"{reg.url}/api/v2.0/ldap/users/import", auth=("admin", admin_password(reg)),
                      json={"ldap_uid_list": ["cat", "nobody"]}, timeout=30)
    assert r.status_code == 404 and r.json() == [
        {"uid": "nobody", "error": "not found in the directory"}]
    admin.import_ldap_users(["cat"])
    admin.create_project(ProjectReq(project_name="team"))
    admin.add_project_member("team", ProjectMember(role_id=GUEST,
                                                   member_user=UserEntity(username="cat")))
    assert [p.name for p in Harbor(reg, "cat", "cat-ldap-pw").get_projects()] == ["team"]

    groups = admin.search_ldap_groups(group_name="dev")
    assert [(g.group_name, g.ldap_group_dn) for g in groups] == [("devs", f"cn=devs,{GROUPS}")]
    assert admin.search_ldap_groups(group_dn=f"cn=ops-admins,{GROUPS}")[0].group_name == "ops-admins"
    with pytest.raises(NotFound):
        admin.search_ldap_groups(group_name="nothing-like-it")

    location = admin.create_usergroup(UserGroup(group_type=1, ldap_group_dn=f"cn=ops-admins,{GROUPS}"))
    group_id = int(location.rsplit("/", 1)[1])
    assert admin.get_usergroup(group_id).group_name == "ops-admins"
    with pytest.raises(Conflict):
        admin.create_usergroup(UserGroup(group_type=1, ldap_group_dn=f"cn=ops-admins,{GROUPS}"))
    assert "ops-admins" in [g.group_name for g in admin.get_usergroups()]
    admin.update_usergroup(group_id, UserGroup(group_name="operators"))
    assert admin.get_usergroup(group_id).group_name == "operators"
    assert admin.get_usergroup(group_id).ldap_group_dn == f"cn=ops-admins,{GROUPS}"
    cat = Harbor(reg, "cat", "cat-ldap-pw")
    assert [(g.id, g.group_name) for g in cat.search_usergroups("operat")] == \
        [(group_id, "operators")]
    with pytest.raises(Forbidden):
        cat.delete_usergroup(group_id)
    admin.delete_usergroup(group_id)
    with pytest.raises(NotFound):
        admin.get_usergroup(group_id)

    ann = Harbor(reg, "ann", "ann-ldap-pw")
    with pytest.raises(Forbidden):
        ann.search_ldap_users("a")
    with pytest.raises(Forbidden):
        ann.ping_ldap()


def test_an_unreachable_or_untrusted_directory_is_named_and_local_users_still_sign_in(
        make_registry, slapd, workdir):
    reg = make_registry(extra_config=slapd.berth_config())
    slapd.stop()
    r = requests.get(f"{reg.url}/v2/", auth=("ann", "ann-ldap-pw"), timeout=30)
    assert r.status_code == 503 and "cannot reach the LDAP server" in r.text
    assert requests.get(f"{reg.url}/v2/", auth=("admin", admin_password(reg)),
                        timeout=30).status_code == 200
    slapd.start()
    assert requests.get(f"{reg.url}/v2/", auth=("ann", "ann-ldap-pw"), timeout=30).status_code == 200

    # StartTLS is really used: a CA that did not sign the directory's certificate fails.
    other = Slapd.start_new()
    try:
        config = slapd.berth_config().replace(str(slapd.ca), str(other.ca))
        wary = make_registry(extra_config=config)
        r = requests.get(f"{wary.url}/v2/", auth=("ann", "ann-ldap-pw"), timeout=30)
        assert r.status_code == 503, r.text
    finally:
        other.remove()
