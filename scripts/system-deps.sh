#!/usr/bin/env bash
# Debian packages the tests need, installed only when missing:
#   libportaudio2  sounddevice's PortAudio (microphone path)
#   pulseaudio     a null sink to test the microphone path with real audio
#   chromium       the overlay and report tests drive it through Playwright
#   sox, ffmpeg    fixture and benchmark audio (ffmpeg also parses exported subtitles)
#   npm            installs axe-core for the report's accessibility test (tests/a11y)
#   libasound2-plugins  the ALSA "pulse" device through which sounddevice records PulseAudio
set -euo pipefail
packages=(libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils chromium sox ffmpeg npm)
missing=()
for p in "${packages[@]}"; do
  # npm often comes with the machine's own Node.js (not Debian's): Debian's npm
  # package then conflicts with it ("held broken packages"), so a working npm is enough.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
