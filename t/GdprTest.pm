# Copyright (c) 2026, gdpr developers

# What the TAP tests of gdpr share: a log database on a server of its own,
# and a server with gdpr preloaded that ships to it.

package GdprTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT_OK = qw(log_server gdpr_server);

# log_server([$extra_conf]): a started server with a database "gdprlog";
# returns the node and the conninfo for gdpr.log_conninfo
sub log_server
{
	my ($extra_conf) = @_;
	my $logdb = PostgreSQL::Test::Cluster->new('logdb');
	$logdb->init;
	$logdb->append_conf('postgresql.conf', $extra_conf) if defined $extra_conf;
	$logdb->start;
	$logdb->safe_psql('postgres', 'CREATE DATABASE gdprlog');
	my $conninfo = 'host=' . $logdb->host . ' port=' . $logdb->port . ' dbname=gdprlog';
	return ($logdb, $conninfo);
}

# gdpr_server($conninfo, $conf, %init_args): a started server named "main"
# with shared_preload_libraries = 'gdpr' (unless $conf sets it), shipping to
# $conninfo, with the settings in $conf
sub gdpr_server
{
	my ($conninfo, $conf, %init_args) = @_;
	my $node = PostgreSQL::Test::Cluster->new('main');
	$node->init(%init_args);
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'gdpr'\n")
	  unless $conf =~ /shared_preload_libraries/;
	$node->append_conf('postgresql.conf', "gdpr.log_conninfo = '$conninfo'\n$conf");
	$node->start;
	return $node;
}

1;
