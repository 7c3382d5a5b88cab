#!/usr/bin/perl
# Writes a small MaxMind-format GeoIP2-Country-like database for the geo routing tests:
#   make_mmdb.pl OUT.mmdb
# Networks (documentation and test ranges only) -> country / continent / subdivision:
#   203.0.113.0/24  TW / AS (subdivision TPE)
#   198.51.100.0/24 DE / EU
#   192.0.2.0/25    US / NA (subdivision CA)
#   192.0.2.128/25  BR / SA
#   2001:db8::/32   JP / AS
#   2001:db8:ffff::/48 AU / OC   (more specific, inside 2001:db8::/32)
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift @ARGV or die "usage: make_mmdb.pl OUT.mmdb\n";

my %types = (
    country      => 'map',
    continent    => 'map',
    subdivisions => ['array', 'map'],
    iso_code     => 'utf8_string',
    code         => 'utf8_string',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    database_type         => 'steerdns-test-country',
    languages             => ['en'],
    description           => { en => 'steerdns test geo database' },
    map_key_type_callback => sub { $types{ $_[0] } },
    alias_ipv6_to_ipv4    => 1,
    # The test networks are documentation ranges, which the writer drops by default.
    remove_reserved_networks => 0,
);

sub rec {
    my ($country, $continent, $sub) = @_;
    my %r = (country => { iso_code => $country }, continent => { code => $continent });
    $r{subdivisions} = [ { iso_code => $sub } ] if defined $sub;
    return \%r;
}

$tree->insert_network('203.0.113.0/24',     rec('TW', 'AS', 'TPE'));
$tree->insert_network('198.51.100.0/24',    rec('DE', 'EU'));
$tree->insert_network('192.0.2.0/25',       rec('US', 'NA', 'CA'));
$tree->insert_network('192.0.2.128/25',     rec('BR', 'SA'));
$tree->insert_network('2001:db8::/32',      rec('JP', 'AS'));
$tree->insert_network('2001:db8:ffff::/48', rec('AU', 'OC'));

open my $fh, '>:raw', $out or die "cannot write $out: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot close $out: $!\n";
