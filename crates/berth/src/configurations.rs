//! Harbor's `/configurations` as berth's configuration answers it: each value Harbor's
//! clients read, with the `config.yml` key that sets it. Values come from the file (and
//! `REGISTRY_*` variables), so none is editable through the API.

use berth_api::ConfigurationItem;
use serde_json::{Value, json};

use crate::settings::{AuthSettings, ServeSettings};

fn item(key: &'static str, value: Value, set_by: &'static str) -> ConfigurationItem {
    ConfigurationItem { key, value, set_by }
}

/// Harbor's numbers for search scopes: 0 base, 1 one level, 2 subtree.
fn scope_number(scope: berth_config::LdapScope) -> i64 {
    match scope {
        berth_config::LdapScope::Base => 0,
        berth_config::LdapScope::Onelevel => 1,
        berth_config::LdapScope::Subtree => 2,
    }
}

pub fn harbor_view(s: &ServeSettings) -> Vec<ConfigurationItem> {
    let creation = match s.projects.creation {
        berth_config::ProjectCreation::Everyone => "everyone",
        berth_config::ProjectCreation::Adminonly => "adminonly",
    };
    let mut items = vec![
        item(
            "project_creation_restriction",
            json!(creation),
            "berth.projects.creation",
        ),
        // Accounts are added by administrators, the directory or the identity provider.
        item("self_registration", json!(false), "(not offered)"),
        item(
            "read_only",
            json!(false),
            "storage.maintenance.readonly.enabled (not supported yet)",
        ),
        item("robot_name_prefix", json!("robot$"), "(fixed)"),
        item("notification_enable", json!(true), "(always on)"),
        item("quota_per_project_enable", json!(true), "(always on)"),
        item(
            "storage_per_project",
            json!(-1),
            "(none: set each project's storage_limit)",
        ),
        item(
            "audit_log_forward_endpoint",
            json!(
                s.audit
                    .syslog
                    .as_ref()
                    .map(|c| c.address.clone())
                    .unwrap_or_default()
            ),
            "berth.audit.syslog.address",
        ),
        item("skip_audit_log_database", json!(false), "(always kept)"),
        item(
            "disabled_audit_log_event_types",
            json!(if s.audit.pulls { "" } else { "pull_artifact" }),
            "berth.audit.pulls",
        ),
    ];
    if let AuthSettings::Local { token_ttl, .. } = &s.auth {
        items.push(item(
            "token_expiration",
            json!((token_ttl.as_secs() / 60).max(1)),
            "auth.local.tokenttl",
        ));
    }
    let l = &s.ldap;
    if let Some(url) = &l.url {
        let text = |v: &Option<String>| json!(v.clone().unwrap_or_default());
        items.extend([
            item("ldap_url", json!(url), "berth.ldap.url"),
            item("ldap_base_dn", json!(l.basedn), "berth.ldap.basedn"),
            item("ldap_filter", text(&l.filter), "berth.ldap.filter"),
            item("ldap_uid", json!(l.uid), "berth.ldap.uid"),
            item(
                "ldap_scope",
                json!(scope_number(l.scope)),
                "berth.ldap.scope",
            ),
            item("ldap_search_dn", text(&l.searchdn), "berth.ldap.searchdn"),
            item(
                "ldap_timeout",
                json!(l.timeout.as_secs()),
                "berth.ldap.timeout",
            ),
            item(
                "ldap_verify_cert",
                json!(l.verifycert),
                "berth.ldap.verifycert",
            ),
            item(
                "ldap_group_base_dn",
                text(&l.group.basedn),
                "berth.ldap.group.basedn",
            ),
            item(
                "ldap_group_search_filter",
                text(&l.group.filter),
                "berth.ldap.group.filter",
            ),
            item(
                "ldap_group_attribute_name",
                json!(l.group.nameattribute),
                "berth.ldap.group.nameattribute",
            ),
            item(
                "ldap_group_search_scope",
                json!(scope_number(l.group.scope)),
                "berth.ldap.group.scope",
            ),
            item(
                "ldap_group_membership_attribute",
                json!(l.group.membershipattribute),
                "berth.ldap.group.membershipattribute",
            ),
            item(
                "ldap_group_admin_dn",
                text(&l.group.admindn),
                "berth.ldap.group.admindn",
            ),
        ]);
    }
    let o = &s.oidc;
    if let Some(endpoint) = &o.endpoint {
        items.extend([
            item("oidc_endpoint", json!(endpoint), "berth.oidc.endpoint"),
            item("oidc_client_id", json!(o.clientid), "berth.oidc.clientid"),
            item("oidc_scope", json!(o.scope), "berth.oidc.scope"),
            item(
                "oidc_user_claim",
                json!(o.userclaim),
                "berth.oidc.userclaim",
            ),
            item(
                "oidc_groups_claim",
                json!(o.groupsclaim),
                "berth.oidc.groupsclaim",
            ),
            item(
                "oidc_admin_group",
                json!(o.admingroup.clone().unwrap_or_default()),
                "berth.oidc.admingroup",
            ),
            item(
                "oidc_verify_cert",
                json!(o.verifycert),
                "berth.oidc.verifycert",
            ),
            // The first sign-in adds the user, named by the user claim.
            item("oidc_auto_onboard", json!(true), "(always)"),
        ]);
    }
    items
}
