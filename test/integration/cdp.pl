#!/usr/bin/perl
# cdp.pl: a minimal Chrome DevTools Protocol client for the dashboard tests,
# so that they can drive a headless chromium (click, reload, read the DOM)
# with nothing but core Perl: a WebSocket handshake and text frames over
# IO::Socket::INET, JSON::PP for the messages. One command per run, on the
# first page of the chromium whose debugging port is PORT:
#
#   cdp.pl PORT eval JS          the value of the expression (promises
#                                awaited); strings raw, the rest as JSON
#   cdp.pl PORT wait SECONDS JS  polls JS every 100 ms until it is truthy;
#                                prints its value, exits 1 on timeout
#   cdp.pl PORT click JS         a real mouse click (pressed, released) at
#                                the centre of the element JS evaluates to
#   cdp.pl PORT reload           reloads the page
use strict;
use warnings;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64;
use Time::HiRes qw(sleep time);

my ($port, $cmd, @args) = @ARGV;
die "usage: cdp.pl PORT eval|wait|click|reload ...\n" unless $port && $cmd;
my $json = JSON::PP->new->utf8->canonical->allow_nonref;
my $id = 0;

# The page's WebSocket path, from the /json/list of the debugging port.
sub page_path {
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!\n";
	# HTTP/1.1 (chromium answers 1.0 with nothing), read to Content-Length
	print $s "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n\r\n";
	my $reply = "";
	while ($reply !~ /\r\n\r\n/) {
		sysread($s, $reply, 65536, length($reply)) or die "/json/list: closed\n";
	}
	my ($head, $body) = split(/\r\n\r\n/, $reply, 2);
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi or die "/json/list: no length\n";
	$body .= read_n($s, $len - length($body)) if length($body) < $len;
	for my $t (@{$json->decode($body)}) {
		return $1 if $t->{type} eq "page" &&
			$t->{webSocketDebuggerUrl} =~ m{^ws://[^/]+(/.*)$};
	}
	die "no page target\n";
}

sub ws_connect {
	my $path = page_path();
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!\n";
	my $key = encode_base64(join("", map { chr(int(rand(256))) } 1 .. 16), "");
	print $s "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\n" .
		"Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n";
	my $head = "";
	while ($head !~ /\r\n\r\n$/) {
		sysread($s, my $c, 1) == 1 or die "handshake: connection closed\n";
		$head .= $c;
	}
	$head =~ m{^HTTP/1\.1 101} or die "handshake: $head";
	return $s;
}

sub read_n {
	my ($s, $n) = @_;
	my $buf = "";
	while (length($buf) < $n) {
		my $got = sysread($s, $buf, $n - length($buf), length($buf));
		die "connection closed\n" unless $got;
	}
	return $buf;
}

# One masked text frame (clients must mask).
sub ws_send {
	my ($s, $text) = @_;
	my $len = length($text);
	my $head = chr(0x81) . ($len < 126 ? chr(0x80 | $len) :
		$len < 65536 ? chr(0x80 | 126) . pack("n", $len) :
		chr(0x80 | 127) . pack("Q>", $len));
	my $mask = pack("N", int(rand(2**32)));
	my $masked = $text ^ substr($mask x (int($len / 4) + 1), 0, $len);
	print $s $head, $mask, $masked;
}

# One message, its fragments joined (the browser does not mask).
sub ws_recv {
	my ($s) = @_;
	my $msg = "";
	while (1) {
		my ($b0, $b1) = unpack("CC", read_n($s, 2));
		my $len = $b1 & 0x7f;
		$len = unpack("n", read_n($s, 2)) if $len == 126;
		$len = unpack("Q>", read_n($s, 8)) if $len == 127;
		$msg .= read_n($s, $len);
		return $msg if $b0 & 0x80;
	}
}

sub call {
	my ($s, $method, $params) = @_;
	my $want = ++$id;
	ws_send($s, $json->encode({id => $want, method => $method, params => $params || {}}));
	while (1) {
		my $m = $json->decode(ws_recv($s));
		next unless defined $m->{id} && $m->{id} == $want;
		die "$method: $m->{error}{message}\n" if $m->{error};
		return $m->{result};
	}
}

sub evaluate {
	my ($s, $js) = @_;
	my $r = call($s, "Runtime.evaluate", {expression => $js, awaitPromise => JSON::PP::true,
					      returnByValue => JSON::PP::true});
	die "exception: " . ($r->{exceptionDetails}{exception}{description} //
			     $r->{exceptionDetails}{text}) . "\n" if $r->{exceptionDetails};
	return $r->{result}{value};
}

sub show {
	my ($v) = @_;
	binmode(STDOUT, ":utf8");
	print defined $v && !ref $v ? "$v\n" : JSON::PP->new->canonical->allow_nonref->encode($v) . "\n";
}

my $s = ws_connect();
if ($cmd eq "eval") {
	show(evaluate($s, $args[0]));
} elsif ($cmd eq "wait") {
	my ($secs, $js) = @args;
	my $end = time() + $secs;
	my $v;
	while (1) {
		$v = eval { evaluate($s, $js) };
		last if $v;
		if (time() > $end) { show($v); exit 1; }
		sleep(0.1);
	}
	show($v);
} elsif ($cmd eq "click") {
	my $at = evaluate($s, "(() => { const e = ($args[0]); e.scrollIntoView({block: 'center'}); " .
			  "const r = e.getBoundingClientRect(); " .
			  "return [r.left + r.width / 2, r.top + r.height / 2]; })()");
	for my $type (qw(mousePressed mouseReleased)) {
		call($s, "Input.dispatchMouseEvent", {type => $type, x => $at->[0], y => $at->[1],
						      button => "left", clickCount => 1});
	}
} elsif ($cmd eq "reload") {
	call($s, "Page.reload", {ignoreCache => JSON::PP::true});
} else {
	die "unknown command $cmd\n";
}
