"""A real OpenLDAP directory for the tests (Debian's slapd, started by scripts/slapd.sh on
a loopback port), with helpers to add people and groups as any directory admin would, and
the `berth.ldap` section that points berth at it."""

from __future__ import annotations

import subprocess

from servers import ScriptedServer

SUFFIX = "dc=berth,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


class Slapd(ScriptedServer):
    script = "slapd"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ca(self):
        return self.directory / "ca.crt"

    def ldap(self, tool: str, ldif: str = "", *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([tool, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD,
                               *args], input=ldif, capture_output=True, text=True, check=True,
                              timeout=30)

    def add_person(self, uid: str, password: str, name: str, mail: str | None = None):
        mail_line = f"mail: {mail}\n" if mail else ""
        self.ldap("ldapadd", f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                             f"cn: {name}\nsn: {name.split()[-1]}\n{mail_line}"
                             f"userPassword: {password}\n")

    def add_group(self, cn: str, *members: str):
        lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
        self.ldap("ldapadd", f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}")

    def remove_member(self, cn: str, uid: str):
        self.ldap("ldapmodify", f"dn: cn={cn},{GROUPS}\nchangetype: modify\ndelete: member\n"
                                f"member: uid={uid},{PEOPLE}\n")

    def set_password(self, uid: str, password: str):
        self.ldap("ldappasswd", "", "-s", password, f"uid={uid},{PEOPLE}")

    def berth_config(self, admin_group: str | None = "ops-admins", starttls: bool = True,
                     search_password: str = ROOT_PASSWORD) -> str:
        """`auth.local` with this directory as `berth.ldap` (StartTLS against its CA)."""
        admin = f"      admindn: cn={admin_group},{GROUPS}\n" if admin_group else ""
        return ("auth:\n  local:\n    service: test-registry\n"
                "berth:\n  ldap:\n"
                f"    url: {self.url}\n    starttls: {'true' if starttls else 'false'}\n"
                f"    cacert: {self.ca}\n"
                f"    searchdn: {ROOT_DN}\n    searchpassword: {search_password}\n"
                f"    basedn: {PEOPLE}\n    filter: (objectClass=inetOrgPerson)\n"
                "    uid: uid\n    timeout: 5s\n"
                f"    group:\n      basedn: {GROUPS}\n      filter: (objectClass=groupOfNames)\n"
                f"{admin}")
