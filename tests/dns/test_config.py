"""The project's [dns] section: parsed and validated with errors naming the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailmig_tui.core.dns.config import (
    DEFAULT_RESOLVERS,
    parse_address,
    parse_dns_section,
    parse_resolver_arg,
    resolvers_to_toml,
)
from mailmig_tui.core.model import SchemaError
from tests.dns.conftest import make_project, run_cli, write_project


def test_defaults_cover_mainland_china_and_other_regions() -> None:
    config = parse_dns_section(None)
    regions = {r.region for r in config.resolvers}
    addresses = {r.address for r in config.resolvers}
    assert {"223.5.5.5", "119.29.29.29", "114.114.114.114", "180.76.76.76", "8.8.8.8", "1.1.1.1"} <= addresses
    assert {"CN", "Global", "EU", "US"} <= regions
    assert config.resolvers == list(DEFAULT_RESOLVERS)


def test_round_trip_of_an_edited_resolver_list() -> None:
    data = {"interval": 10, "timeout": 0.8, "resolvers": [
        {"name": "lab", "address": "127.0.53.11"},
        {"name": "v6", "address": "[::1]:5353", "region": "here"},
        {"name": "doh", "address": "127.0.53.12", "transport": "https", "url": "https://127.0.53.12/dns-query"},
    ], "authoritative": ["127.0.53.1", "127.0.53.2:53"]}
    config = parse_dns_section(data)
    assert [(r.name, r.address, r.port) for r in config.resolvers] == [
        ("lab", "127.0.53.11", 53), ("v6", "::1", 5353), ("doh", "127.0.53.12", 53)]
    assert [a.address for a in config.authoritative] == ["127.0.53.1", "127.0.53.2"]
    assert parse_dns_section({"resolvers": resolvers_to_toml(config.resolvers)}).resolvers == config.resolvers


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"interval": "fast"}, ("dns", "interval"), "number"),
    ({"interval": 0}, ("dns", "interval"), "between"),
    ({"resolvers": []}, ("dns", "resolvers"), "empty"),
    ({"resolvers": [{"name": "x", "address": "dns.google"}]}, ("dns", "resolvers", 0, "address"), "IP address"),
    ({"resolvers": [{"name": "x", "address": "1.2.3.4:99999"}]}, ("dns", "resolvers", 0, "address"), "port"),
    ({"resolvers": [{"address": "1.2.3.4"}]}, ("dns", "resolvers", 0, "name"), "name"),
    ({"resolvers": [{"name": "a", "address": "1.2.3.4"}, {"name": "a", "address": "1.2.3.5"}]},
     ("dns", "resolvers", 1, "name"), "twice"),
    ({"resolvers": [{"name": "a", "address": "1.2.3.4", "transport": "tls"}]}, ("dns", "resolvers", 0, "transport"), "udp"),
    ({"resolvers": [{"name": "a", "address": "1.2.3.4", "transport": "https"}]}, ("dns", "resolvers", 0, "url"), "https://"),
    ({"resolvers": [{"name": "a", "address": "1.2.3.4", "colour": "red"}]}, ("dns", "resolvers", 0, "colour"), "unknown"),
    ({"authoritative": [53]}, ("dns", "authoritative", 0), "IP"),
    ({"mx_ttl": 0}, ("dns", "mx_ttl"), "TTL"),
])
def test_bad_values_name_their_key(data: dict, path: tuple, words: str) -> None:
    with pytest.raises(SchemaError) as info:
        parse_dns_section(data)
    assert info.value.path == path
    assert words in info.value.message


def test_command_line_overrides_parse() -> None:
    assert parse_resolver_arg("lab=127.0.53.11:5300").port == 5300
    assert parse_address("[::1]:53") == ("::1", 53)
    assert parse_address("::1") == ("::1", 53)
    with pytest.raises(SchemaError):
        parse_resolver_arg("127.0.53.11")


def test_cli_reports_a_bad_dns_section_with_line_and_key(tmp_path: Path) -> None:
    path = write_project(tmp_path, make_project(), resolvers=[{"name": "lab", "address": "not-an-ip"}])
    result = run_cli("dns", "check", str(path))
    assert result.returncode == 3
    assert "dns.resolvers[0].address" in result.stderr and "line" in result.stderr
    result = run_cli("dns", "check", str(path), "--resolver", "oops")
    assert result.returncode == 3  # the file is checked before the command line


def test_resolver_lines_round_trip_and_name_bad_lines() -> None:
    from mailmig_tui.core.dns.config import DEFAULT_RESOLVERS, parse_resolver_lines, resolvers_to_lines

    servers = list(DEFAULT_RESOLVERS)
    assert parse_resolver_lines(resolvers_to_lines(servers)) == servers
    assert parse_resolver_lines("# mine\nv6 [::1]:5353 lab\n") [0].port == 5353
    with pytest.raises(ValueError, match="line 2: expected an IP address"):
        parse_resolver_lines("a 127.0.0.1\nb nowhere\n")
    with pytest.raises(ValueError, match="line 1: a DoH URL starts with https://"):
        parse_resolver_lines("a 127.0.0.1 CN http://x/\n")
    with pytest.raises(ValueError, match="the list is empty"):
        parse_resolver_lines("\n# nothing\n")


def test_watch_with_no_new_mx_says_there_is_nothing_to_watch(tmp_path: Path) -> None:
    project = make_project()
    project.new.mx = []  # as the generic-imap preset writes it
    path = write_project(tmp_path, project)
    result = run_cli("dns", "watch", str(path), "--count", "1", "--resolver", "x=127.0.0.1:9")
    assert result.returncode == 2
    assert "no MX in the project (new.mx = []): nothing to watch" in result.stderr
    assert "Traceback" not in result.stderr
