'use strict';

// Runs 7digital's official node client (npm package 7digital-api, unchanged)
// against a server chosen with _7D_API_CLIENT_HOST / _7D_API_CLIENT_PORT, and
// prints one JSON line per case on stdout with what the callback got.
//
//   node client.js CONSUMER_KEY FOUND_TRACK_ID UNKNOWN_TRACK_ID
//
// The arguments may also come from CONSUMER_KEY, FOUND_TRACK_ID and
// UNKNOWN_TRACK_ID in the environment.

var sevendigital = require('7digital-api');

var key = process.argv[2] || process.env.CONSUMER_KEY;
var foundId = process.argv[3] || process.env.FOUND_TRACK_ID;
var unknownId = process.argv[4] || process.env.UNKNOWN_TRACK_ID || '987654321';
if (!key || !foundId) {
	console.error('usage: node client.js CONSUMER_KEY FOUND_TRACK_ID [UNKNOWN_TRACK_ID]');
	process.exit(2);
}

// The client's default logger (lib/logger.js) writes its info and warn lines
// to stdout; this one keeps the same levels but writes to stderr, so stdout
// carries only the JSON results.
function toStderr(level) {
	if (level !== 'info' && level !== 'warn' && level !== 'error') {
		return function () {};
	}
	return function () {
		var args = [].slice.call(arguments);
		args[0] = level.toUpperCase() + ': (api-client) ' + args[0];
		console.error.apply(console, args);
	};
}
var logger = {};
['silly', 'verbose', 'info', 'http', 'warn', 'error'].forEach(function (level) {
	logger[level] = toStderr(level);
});

function client(consumerkey) {
	return sevendigital.configure({
		consumerkey: consumerkey,
		defaultParams: { country: 'GB' },
		logger: logger
	});
}

var api = client(key);
var badKeyApi = client('not-a-registered-key');

var cases = [
	{ name: 'found', api: api, params: { trackId: foundId } },
	{ name: 'unknown', api: api, params: { trackId: unknownId } },
	{ name: 'missing', api: api, params: {} },
	{ name: 'badkey', api: badKeyApi, params: { trackId: foundId } }
];

function report(name, err, res) {
	var line;
	if (err) {
		line = {
			case: name,
			error: err.name || (err.constructor && err.constructor.name),
			code: err.code,
			statusCode: err.statusCode,
			message: err.message
		};
	} else {
		var track = (res && res.track) || {};
		line = {
			case: name,
			status: res && res.status,
			trackId: track.id,
			title: track.title,
			isrc: track.isrc,
			releaseTitle: track.release && track.release.title
		};
	}
	console.log(JSON.stringify(line));
}

// One case at a time, so the lines come out in order.
function next(i) {
	if (i >= cases.length) {
		return;
	}
	var c = cases[i];
	var done = false;
	new c.api.Tracks().getDetails(c.params, function (err, res) {
		if (done) {
			console.error('case ' + c.name + ': callback called more than once', err);
			return;
		}
		done = true;
		report(c.name, err, res);
		next(i + 1);
	});
}

next(0);
