//! Attribute names of the Compose Specification, transcribed from the JSON schema
//! `docker compose` validates with: repository `compose-spec/compose-go`, file
//! `schema/compose-spec.json`, commit e70e961c3a3acebf0800b882f1afb3dbf1fb74a2
//! (HEAD, 2026-07-21; file last changed in faa67b213c471d63997f55cc145e6eab9dc3630f).
//! It is a superset of `compose-spec/compose-spec` at 170098ba07d9f53c383a41bfd4c5166b0a4529a6
//! (adds `build.no_cache_filter` and service `pre_start`).

/// Top-level keys of a compose file (besides `x-` extensions).
pub const TOP_LEVEL: &[&str] = &[
    "configs", "include", "models", "name", "networks", "secrets", "services", "version", "volumes",
];

/// Attributes of a service (`services.<name>.<attr>`).
pub const SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Attributes of a service's long-syntax `build:` mapping.
pub const BUILD: &[&str] = &[
    "additional_contexts",
    "args",
    "cache_from",
    "cache_to",
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "extra_hosts",
    "isolation",
    "labels",
    "network",
    "no_cache",
    "no_cache_filter",
    "platforms",
    "privileged",
    "provenance",
    "pull",
    "sbom",
    "secrets",
    "shm_size",
    "ssh",
    "tags",
    "target",
    "ulimits",
];

/// Attributes of a service's `deploy:` mapping.
pub const DEPLOY: &[&str] = &[
    "endpoint_mode",
    "labels",
    "mode",
    "placement",
    "replicas",
    "resources",
    "restart_policy",
    "rollback_config",
    "update_config",
];

/// Attributes of `deploy.resources.limits`.
pub const RESOURCE_LIMITS: &[&str] = &["cpus", "memory", "pids"];

/// Attributes of a long-syntax `ports` entry.
pub const PORT: &[&str] = &[
    "app_protocol",
    "host_ip",
    "mode",
    "name",
    "protocol",
    "published",
    "target",
];

/// Attributes of a long-syntax service `volumes` entry.
pub const SERVICE_VOLUME: &[&str] = &[
    "bind",
    "consistency",
    "image",
    "read_only",
    "source",
    "target",
    "tmpfs",
    "type",
    "volume",
];

/// Attributes of a service's `networks.<name>` entry.
pub const SERVICE_NETWORK: &[&str] = &[
    "aliases",
    "driver_opts",
    "gw_priority",
    "interface_name",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "priority",
];

/// Attributes of a top-level network (`networks.<name>`).
pub const NETWORK: &[&str] = &[
    "attachable",
    "driver",
    "driver_opts",
    "enable_ipv4",
    "enable_ipv6",
    "external",
    "internal",
    "ipam",
    "labels",
    "name",
];

/// Attributes of a top-level volume (`volumes.<name>`).
pub const VOLUME: &[&str] = &["driver", "driver_opts", "external", "labels", "name"];

/// Attributes of a top-level config (`configs.<name>`).
pub const CONFIG: &[&str] = &[
    "content",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];

/// Attributes of a top-level secret (`secrets.<name>`).
pub const SECRET: &[&str] = &[
    "driver",
    "driver_opts",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];

/// Attributes of a long-syntax `include` entry.
pub const INCLUDE: &[&str] = &["env_file", "path", "project_directory"];

/// True when `key` is an attribute of `allowed` or an `x-` extension.
pub fn known(allowed: &[&str], key: &str) -> bool {
    key.starts_with("x-") || allowed.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&[&str]] = &[
        TOP_LEVEL,
        SERVICE,
        BUILD,
        DEPLOY,
        RESOURCE_LIMITS,
        PORT,
        SERVICE_VOLUME,
        SERVICE_NETWORK,
        NETWORK,
        VOLUME,
        CONFIG,
        SECRET,
        INCLUDE,
    ];

    #[test]
    fn lists_are_sorted_and_unique() {
        for list in ALL {
            assert!(!list.is_empty());
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }

    #[test]
    fn known_attributes() {
        assert!(known(SERVICE, "platform"));
        assert!(known(SERVICE, "x-anything"));
        assert!(!known(SERVICE, "imagee"));
        assert!(known(TOP_LEVEL, "models"));
        assert!(!known(TOP_LEVEL, "service"));
        for attr in [
            "post_start",
            "pre_stop",
            "gpus",
            "develop",
            "provider",
            "use_api_socket",
        ] {
            assert!(known(SERVICE, attr), "{attr}");
        }
        assert!(known(SERVICE_NETWORK, "priority"));
        assert!(known(SERVICE_NETWORK, "gw_priority"));
        assert!(known(BUILD, "dockerfile_inline"));
        assert!(known(DEPLOY, "resources"));
        assert!(known(RESOURCE_LIMITS, "pids"));
        assert!(known(PORT, "published"));
        assert!(known(SERVICE_VOLUME, "read_only"));
        assert!(known(NETWORK, "enable_ipv6"));
        assert!(known(VOLUME, "driver_opts"));
        assert!(known(CONFIG, "content"));
        assert!(known(SECRET, "environment"));
        assert!(known(INCLUDE, "project_directory"));
        assert!(!known(VOLUME, "priority"));
    }
}
