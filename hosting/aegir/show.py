"""An Aegir import plan for people (a table) and for programs (the JSON the command's --json,
the API and the panel share)."""
from __future__ import annotations

from typing import Any

from hosting.aegir.plan import Plan


def as_data(plan: Plan) -> dict[str, Any]:
    return {
        "directory": plan.directory,
        "server": plan.server.name,
        "counts": plan.counts(),
        "servers": plan.servers,
        "platforms": [{"context": p.context, "name": p.name, "path": p.path, "known": p.record is not None}
                      for p in plan.platforms],
        "sites": [{"context": s.context, "domain": s.domain, "platform": s.platform.name, "status": s.status,
                   "client": s.client or None, "profile": s.profile, "aliases": s.aliases,
                   "redirection": s.aegir.get("redirection") or None, "https": s.aegir.get("https") or None,
                   "database": s.database, "notes": s.notes} for s in plan.sites],
        "known_sites": plan.known_sites,
        "clients": {"new": plan.clients_new, "existing": plan.clients_existing},
        "skipped": [{"kind": k.kind, "name": k.name, "reason": k.reason} for k in plan.skipped],
    }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def as_text(plan: Plan) -> str:
    data = as_data(plan)
    lines = [f"Aegir contexts in {plan.directory}, onto server {plan.server.name}", ""]
    if data["servers"]:
        lines += ["Servers:"] + _table(["CONTEXT", "HOST", "HTTP", "DB", "BECOMES"], [
            [s["context"], s["host"], s["http"] or "-", s["db"] or "-", s["maps_to"] or "(skipped)"]
            for s in data["servers"]]) + [""]
    if data["platforms"]:
        lines += ["Platforms:"] + _table(["CONTEXT", "NAME", "PATH", "IMPORT"], [
            [p["context"], p["name"], p["path"], "known" if p["known"] else "new"] for p in data["platforms"]]) + [""]
    if data["sites"]:
        lines += ["Sites:"] + _table(["DOMAIN", "PLATFORM", "STATUS", "CLIENT", "ALIASES", "REDIRECT", "HTTPS",
                                      "DATABASE"], [
            [s["domain"], s["platform"], s["status"], s["client"] or "-", ",".join(s["aliases"]) or "-",
             s["redirection"] or "-", s["https"] or "-", s["database"]] for s in data["sites"]])
        notes = [f"  {s['domain']}: {n}" for s in data["sites"] for n in s["notes"]]
        lines += (["Notes:", *notes] if notes else []) + [""]
    if plan.known_sites:
        lines += [f"Imported before: {len(plan.known_sites)} site(s)", ""]
    if plan.clients_new:
        lines += [f"New clients: {', '.join(plan.clients_new)}", ""]
    if data["skipped"]:
        lines += ["Skipped:"] + _table(["KIND", "NAME", "REASON"], [
            [k["kind"], k["name"], k["reason"]] for k in data["skipped"]]) + [""]
    lines.append("Counts: " + ", ".join(f"{k} {v}" for k, v in data["counts"].items()))
    return "\n".join(lines)
