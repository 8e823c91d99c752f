#!/bin/sh
# One HTTP request on stdin, its answer on stdout (hello@.service): the request is read to its
# end first, so that closing the connection does not reset it.
while IFS= read -r line; do
	[ -z "$(printf '%s' "$line" | tr -d '\r')" ] && break
done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n'
cat /srv/project/index.html
