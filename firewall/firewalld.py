# portwarden: firewalld helper, run by the host's own python (the one
# firewall-cmd uses), through firewalld's own D-Bus client.
#
#   read   print portwarden's objects, permanent and runtime, as JSON
#   restore  as apply, with what "read" printed earlier (its permanent part)
#   apply  make the permanent objects those on standard input (JSON:
#          {"policy": settings or null, "ipsets": {name: settings}}),
#          reload firewalld, check the runtime, then print as "read";
#          on any failure put the permanent objects back as they were,
#          reload again and exit 1.
#
# Only the policy "portwarden" and ipsets named "portwarden-*" are ever
# read, written or removed. Messages go to standard error, the JSON to
# standard output.
import json
import sys

POLICY = "portwarden"
PREFIX = "portwarden-"
POLICY_KEYS = ("description", "short", "target", "priority", "ingress_zones",
               "egress_zones", "rich_rules", "services", "ports", "protocols",
               "source_ports", "icmp_blocks", "forward_ports", "masquerade")


def say(msg):
    sys.stderr.write(msg + "\n")


def policy_dict(settings):
    d = settings.getSettingsDict()
    return {k: d.get(k) for k in POLICY_KEYS}


def ipset_list(settings):
    s = list(settings.settings)
    # version, short, description, type, options, entries
    return {"short": s[1], "description": s[2], "type": s[3],
            "options": dict(s[4]), "entries": sorted(str(e) for e in s[5])}


def permanent(cfg):
    pol = None
    if POLICY in cfg.getPolicyNames():
        pol = policy_dict(cfg.getPolicyByName(POLICY).getSettings())
    sets = {}
    for n in cfg.getIPSetNames():
        if n.startswith(PREFIX):
            sets[n] = ipset_list(cfg.getIPSetByName(n).getSettings())
    return {"policy": pol, "ipsets": sets}


def runtime(fw):
    pol = None
    if POLICY in fw.getPolicies():
        pol = policy_dict(fw.getPolicySettings(POLICY))
    sets = {}
    for n in fw.getIPSets():
        if n.startswith(PREFIX):
            sets[n] = ipset_list(fw.getIPSetSettings(n))
    return {"policy": pol, "ipsets": sets}


def write(cfg, want):
    """Makes the permanent objects equal to want, in an order that never
    leaves the policy naming a missing ipset."""
    from firewall.client import FirewallClientIPSetSettings, FirewallClientPolicySettings
    have = permanent(cfg)
    for n, s in sorted(want["ipsets"].items()):
        settings = FirewallClientIPSetSettings(
            ["", s["short"], s["description"], s["type"], s["options"], s["entries"]])
        if n not in have["ipsets"]:
            cfg.addIPSet(n, settings)
            say("ipset %s: added" % n)
        elif have["ipsets"][n] != s:
            cfg.getIPSetByName(n).update(settings)
            say("ipset %s: updated" % n)
    pol = want["policy"]
    if pol is None:
        if have["policy"] is not None:
            cfg.getPolicyByName(POLICY).remove()
            say("policy %s: removed" % POLICY)
    else:
        settings = FirewallClientPolicySettings()
        settings.setSettingsDict(pol)
        if have["policy"] is None:
            cfg.addPolicy(POLICY, settings)
            say("policy %s: added" % POLICY)
        elif have["policy"] != pol:
            cfg.getPolicyByName(POLICY).update(settings)
            say("policy %s: updated" % POLICY)
    for n in sorted(have["ipsets"]):
        if n not in want["ipsets"]:
            cfg.getIPSetByName(n).remove()
            say("ipset %s: removed" % n)


def in_place(have, have_rt, want):
    """Reports whether want differs from what is there only in ipset
    entries and rich rules, which firewalld changes at runtime without a
    reload (a reload would drop every runtime-only change other tools
    made, such as fail2ban's bans)."""
    if have != have_rt or have["policy"] is None or want["policy"] is None:
        return False
    if sorted(have["ipsets"]) != sorted(want["ipsets"]):
        return False
    for n, s in want["ipsets"].items():
        h = have["ipsets"][n]
        if any(h[k] != s[k] for k in ("short", "description", "type", "options")):
            return False
    hp, wp = have["policy"], want["policy"]
    return all(hp[k] == wp[k] for k in POLICY_KEYS if k != "rich_rules")


def write_runtime(fw, want):
    """Sets the runtime ipset entries and rich rules to want's."""
    from firewall.client import FirewallClientPolicySettings
    have = runtime(fw)
    for n, s in sorted(want["ipsets"].items()):
        if have["ipsets"][n]["entries"] != s["entries"]:
            fw.setEntries(n, s["entries"])
            say("ipset %s: entries set (runtime, no reload)" % n)
    if have["policy"] != want["policy"]:
        settings = FirewallClientPolicySettings()
        settings.setSettingsDict(want["policy"])
        fw.setPolicySettings(POLICY, settings)
        say("policy %s: rich rules set (runtime, no reload)" % POLICY)


def one_line(e):
    return str(e).strip().replace("\n", " ")


def apply(fw, want):
    """Writes want, reloads and checks; on failure restores. Returns the
    exit status."""
    try:
        # Checks firewalld makes only at its reload, which leaves it FAILED
        # (refusing every further change, the rollback too) when they
        # fail: made here first, before anything is written.
        from firewall.core.ipset import check_for_overlapping_entries
        from firewall.core.rich import Rich_Rule
        for s in want["ipsets"].values():
            check_for_overlapping_entries(s["entries"])
        for rr in (want["policy"] or {}).get("rich_rules", []):
            src = Rich_Rule(rule_str=rr).source
            if src is not None and src.ipset and src.ipset not in want["ipsets"]:
                raise Exception("rich rule %r names ipset %s, which is not written" % (rr, src.ipset))
    except Exception as e:
        say("refused before any change: %s" % one_line(e))
        return 1
    cfg = fw.config()
    before = permanent(cfg)
    if in_place(before, runtime(fw), want):
        return apply_in_place(fw, cfg, before, want)
    try:
        write(cfg, want)
        # firewalld's own check of the whole permanent configuration,
        # before it becomes the runtime.
        fw.checkPermanentConfig()
        fw.reload()
        if runtime(fw) != want:
            raise Exception("after the reload the runtime differs from what was written")
        say("firewalld: permanent configuration written and reloaded")
        return 0
    except Exception as e:
        say("firewalld refused the change: %s" % one_line(e))
    try:
        write(cfg, before)
        fw.reload()
        say("rolled back: portwarden's permanent objects are as before, and firewalld reloaded them")
    except Exception as e:
        say("ROLLBACK FAILED: %s" % one_line(e))
    return 1


def apply_in_place(fw, cfg, before, want):
    """Changes entries and rich rules in the permanent configuration and
    at runtime; on failure puts both back."""
    try:
        write(cfg, want)
        write_runtime(fw, want)
        if runtime(fw) != want or permanent(cfg) != want:
            raise Exception("after the change the runtime or permanent objects differ from what was written")
        say("firewalld: permanent and runtime configuration changed in place, without a reload")
        return 0
    except Exception as e:
        say("firewalld refused the change: %s" % one_line(e))
    try:
        write(cfg, before)
        write_runtime(fw, before)
        say("rolled back: portwarden's permanent and runtime objects are as before")
    except Exception as e:
        say("ROLLBACK FAILED: %s" % one_line(e))
    return 1


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "read"
    if mode not in ("read", "apply", "restore"):
        say("unknown mode %r" % mode)
        return 2
    try:
        from firewall.client import FirewallClient
        fw = FirewallClient()
    except Exception as e:
        say("cannot reach firewalld on D-Bus: %s" % one_line(e))
        return 1
    if not fw.connected:
        say("firewalld is not running (no answer on D-Bus)")
        return 1
    status = 0
    if mode == "apply":
        status = apply(fw, json.load(sys.stdin))
    elif mode == "restore":
        # Standard input is what "read" printed before an apply: put its
        # permanent objects back (the automatic rollback, restore.sh).
        status = apply(fw, json.load(sys.stdin)["permanent"])
    try:
        out = {"permanent": permanent(fw.config()), "runtime": runtime(fw)}
    except Exception as e:
        say("reading firewalld's configuration: %s" % one_line(e))
        return 1
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return status


sys.exit(main())
