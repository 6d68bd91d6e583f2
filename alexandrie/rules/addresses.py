"""Whose address a client's is: one IPv4 address, or an IPv6 client's /64 (the block one subscriber gets),
so rotating addresses inside it buys no fresh budget."""

import ipaddress


def address_group(address: str) -> str:
    """``203.0.113.7`` as it is, ``2001:db8::1`` as ``2001:db8::/64``, an IPv4-mapped IPv6 address as its IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network((ip, 64), strict=False))
