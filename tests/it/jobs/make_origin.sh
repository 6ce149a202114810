#!/usr/bin/env bash
# make_origin.sh ORIGIN CLONE — test support (tests/it/support/gitrepo.rs), run on a test host as
# its deploy user: makes ORIGIN a bare git repository holding a tiny Laravel-like LIMS on two
# branches, then makes CLONE (the server's {base_dir}/git) a fresh clone of it, as a server's
# setup would. Both branches hold: composer.json + composer.lock and package.json +
# package-lock.json, without dependencies (composer and npm work offline), whose npm `build`
# writes public/build/app.js with node; a Dockerfile, .env.example, public/index.php and
# BRANCH.txt. dev differs from master: BRANCH.txt says dev, dev-only.txt exists, and
# .env.example has one more key.
#
# make_origin.sh commit ORIGIN BRANCH FILE TEXT — one more commit on BRANCH of ORIGIN writing
# TEXT into FILE (a path inside the repository).
set -euo pipefail

git_() { git -c user.name="Alfa Test" -c user.email=test@alfa.example -c init.defaultBranch=master "$@" </dev/null; }

work=$(mktemp -d "${TMPDIR:-/tmp}/alfa-origin.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

if [[ ${1:-} == commit ]]; then
  [[ $# -eq 5 ]] || { echo "usage: make_origin.sh commit ORIGIN BRANCH FILE TEXT" >&2; exit 2; }
  git_ clone -q --branch "$3" "$2" "$work/tree"
  mkdir -p "$(dirname "$work/tree/$4")"
  printf '%s\n' "$5" >"$work/tree/$4"
  git_ -C "$work/tree" add -A
  git_ -C "$work/tree" commit -q -m "change $4"
  git_ -C "$work/tree" push -q origin "$3"
  git_ -C "$work/tree" rev-parse HEAD
  exit 0
fi

[[ $# -eq 2 ]] || { echo "usage: make_origin.sh ORIGIN CLONE" >&2; exit 2; }
ORIGIN=$1
CLONE=$2

rm -rf -- "$ORIGIN"
git_ init -q --bare "$ORIGIN"

tree=$work/tree
mkdir -p "$tree/public" "$tree/app"
cd "$tree"
git_ init -q
cat >composer.json <<'EOF'
{
    "name": "alfa/lims-test",
    "type": "project",
    "require": {},
    "autoload": {"psr-4": {"App\\": "app/"}}
}
EOF
cat >composer.lock <<'EOF'
{
    "_readme": [
        "This file locks the dependencies of your project to a known state",
        "Read more about it at https://getcomposer.org/doc/01-basic-usage.md#installing-dependencies",
        "This file is @generated automatically"
    ],
    "content-hash": "eb970b608c82faa2554182233e84e846",
    "packages": [],
    "packages-dev": [],
    "aliases": [],
    "minimum-stability": "stable",
    "stability-flags": [],
    "prefer-stable": false,
    "prefer-lowest": false,
    "platform": [],
    "platform-dev": [],
    "plugin-api-version": "2.3.0"
}
EOF
cat >app/Version.php <<'EOF'
<?php

namespace App;

class Version
{
    public const NAME = 'lims-test';
}
EOF
cat >package.json <<'EOF'
{
  "name": "lims-test",
  "version": "1.0.0",
  "private": true,
  "scripts": {"build": "node build.js"}
}
EOF
cat >package-lock.json <<'EOF'
{
  "name": "lims-test",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "lims-test", "version": "1.0.0"}
  }
}
EOF
cat >build.js <<'EOF'
const fs = require('fs');
const branch = fs.readFileSync('BRANCH.txt', 'utf8').trim();
fs.mkdirSync('public/build', { recursive: true });
fs.writeFileSync('public/build/app.js', `console.log("lims-test ${branch}");\n`);
console.log(`front end of ${branch} built: public/build/app.js`);
EOF
cat >Dockerfile <<'EOF'
FROM php:8.3-fpm
COPY . /var/www/html
EOF
cat >.env.example <<'EOF'
APP_NAME=Laravel
APP_ENV=production
APP_DEBUG=false
LOG_CHANNEL=stack
EOF
printf '<?php echo "lims-test";\n' >public/index.php
printf '/vendor/\n/node_modules/\n/public/build/\n/.env\n' >.gitignore
printf 'master\n' >BRANCH.txt
git_ add -A
git_ commit -q -m "lims-test master"
git_ branch dev
git_ checkout -q dev
printf 'dev\n' >BRANCH.txt
printf 'only on dev\n' >dev-only.txt
printf 'DEV_FEATURE=on\n' >>.env.example
git_ add -A
git_ commit -q -m "lims-test dev"
git_ remote add origin "$ORIGIN"
git_ push -q origin master dev

# The server's clone, as its setup makes it (the folder itself is kept: it is the server's).
mkdir -p "$CLONE"
find "$CLONE" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
git_ clone -q "$ORIGIN" "$CLONE"
echo "origin $ORIGIN (master, dev), clone $CLONE"
