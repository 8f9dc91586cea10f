"""What Route 53 geolocation routing can express: the location codes it knows, and which codes the
built-in demand geographies (infra.catalog.GEOGRAPHIES) stand for.

Pure (no pulumi import). Facts, from the Route 53 API reference, GeoLocation data type
(https://docs.aws.amazon.com/Route53/latest/APIReference/API_GeoLocation.html):
- continent codes: AF, AN, AS, EU, OC, NA, SA (never combined with a country);
- country codes: ISO 3166-1 alpha-2 (Route 53 also accepts UA);
- subdivision codes: only the states (and DC) of the United States, with country US;
- the default location is country `*`.
Continent codes collide with country codes (AS, NA, SA, AF), so config writes continents as
`continent:EU`; a US state as `US-NY`; a country as `DE`.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTINENTS = frozenset({"AF", "AN", "AS", "EU", "OC", "NA", "SA"})

# ISO 3166-1 alpha-2 (https://www.iso.org/iso-3166-country-codes.html), officially assigned codes.
COUNTRIES = frozenset((
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB",
    "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY",
    "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX",
    "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK",
    "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
    "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR",
    "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA",
    "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE",
    "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
    "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG",
    "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF",
    "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY",
    "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
))

# The 50 states and DC (USPS abbreviations), the subdivisions Route 53 accepts for country US.
US_STATES = frozenset((
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS", "KY",
    "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
))


@dataclass(frozen=True)
class Location:
    """One Route 53 geolocation: exactly one of continent / country (optionally with a US state)."""

    continent: str | None = None
    country: str | None = None
    subdivision: str | None = None

    @property
    def code(self) -> str:
        """The config spelling: `continent:EU`, `DE`, `US-NY`, or `*` (the default location)."""
        if self.continent:
            return f"continent:{self.continent}"
        return f"{self.country}-{self.subdivision}" if self.subdivision else str(self.country)

    @property
    def label(self) -> str:
        """A short slug for set identifiers and resource names: `eu`, `de`, `us-ny`, `default`."""
        return "default" if self.country == "*" else self.code.replace("continent:", "").lower()


DEFAULT = Location(country="*")


def parse_location(code: str) -> Location:
    """`continent:EU` / `DE` / `US-NY` -> Location; ValueError saying why Route 53 would refuse it."""
    if code.startswith("continent:"):
        continent = code.removeprefix("continent:")
        if continent not in CONTINENTS:
            raise ValueError(f"{code!r}: Route 53 continents are {', '.join(sorted(CONTINENTS))}")
        return Location(continent=continent)
    country, _, sub = code.partition("-")
    if country not in COUNTRIES:
        raise ValueError(f"{code!r}: {country!r} is not an ISO 3166-1 alpha-2 country code")
    if sub:
        if country != "US" or sub not in US_STATES:
            raise ValueError(f"{code!r}: Route 53 knows subdivisions only for US states (US-NY, US-CA, ...)")
        return Location(country=country, subdivision=sub)
    return Location(country=country)


def _us(*states: str) -> tuple[str, ...]:
    return tuple(f"US-{s}" for s in states)


# Which locations each built-in geography stands for. Disjoint except india-west/india-north (Route 53
# cannot split India: listing both with these defaults is an error unless config overrides one).
BUILT_IN: dict[str, tuple[str, ...]] = {
    "us-east": _us("CT", "DC", "DE", "FL", "GA", "MA", "MD", "ME", "NC", "NH", "NJ", "NY", "PA", "RI", "SC",
                   "VA", "VT", "WV"),
    "us-central": ("US", *_us("IA", "IL", "IN", "KS", "KY", "MI", "MN", "MO", "ND", "NE", "OH", "SD", "WI")),
    "us-south": _us("AL", "AR", "LA", "MS", "OK", "TN", "TX"),
    "us-west": _us("AK", "AZ", "CA", "CO", "HI", "ID", "MT", "NM", "NV", "OR", "UT", "WA", "WY"),
    "canada": ("CA",),
    "mexico": ("MX",),
    "brazil": ("BR",),
    "argentina": ("AR", "CL", "UY", "PY"),
    "uk": ("GB", "IE"),
    "western-europe": ("FR", "BE", "NL", "LU", "ES", "PT"),
    "central-europe": ("DE", "AT", "CH", "CZ", "LI"),
    "nordics": ("SE", "NO", "DK", "FI", "IS"),
    "southern-europe": ("IT", "GR", "MT", "HR", "SI"),
    "eastern-europe": ("PL", "SK", "HU", "RO", "BG", "UA", "LT", "LV", "EE"),
    "middle-east": ("AE", "SA", "QA", "KW", "BH", "OM"),
    "israel": ("IL",),
    "south-africa": ("ZA",),
    "nigeria": ("NG", "GH"),
    "india-west": ("IN",),
    "india-north": ("IN",),
    "japan": ("JP",),
    "korea": ("KR",),
    "taiwan": ("TW",),
    "hong-kong": ("HK", "MO"),
    "singapore": ("SG", "MY"),
    "indonesia": ("ID",),
    "australia-east": ("AU", "NZ"),
}
