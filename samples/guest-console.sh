#!/bin/sh
# A sample guest text console: prints a boot banner, then a login-less prompt that echoes
# what is typed, the way a simple serial console would. Used by the consoleproxy demo config.
printf '\033[2J\033[H'
printf 'Sample guest 1.0 (ttyS0)\r\n\r\n'
for step in "Loading kernel" "Mounting root" "Starting services"; do
  printf '%s ... \033[32mdone\033[0m\r\n' "$step"
done
printf '\r\nWelcome. This console echoes what you type; "exit" ends it.\r\n'
while printf 'guest$ ' && IFS= read -r line; do
  [ "$line" = exit ] && break
  printf 'you typed: %s\r\n' "$line"
done
