#!/usr/bin/env bash
# AWS CLI v2 >= 2.7 on PATH, or a clear stop. pulumi-eks refuses an older one (nodejs/eks/dependencies.ts,
# assertCompatibleAWSCLIExists: minAWSCLIV2Version 2.7.0) and its kubeconfig runs `aws eks get-token` for every
# Kubernetes call of preview, up and refresh. Installed when missing or too old, on Linux x86_64/aarch64 with curl,
# unzip and gpg, from AWS's own download into the runner's tool directory (AWS CLI user guide, "Installing or updating
# to the latest version of the AWS CLI": `./aws/install -i DIR -b BIN`, no root needed), and only once its detached
# PGP signature verifies with the AWS CLI Team's key (same guide, "Verify the integrity and authenticity of the
# downloaded installer files": the .sig beside the zip, key fingerprint FB5D B77F D5C1 18B8 0511 ADA8 A631 0ACC
# 4672 475C; aws-cli-team.asc beside this script). The archive holds an installer run with the job's AWS
# credentials in its environment: TLS alone would trust whatever the download host serves.
set -euo pipefail
MINIMUM=2.7.0
FINGERPRINT=FB5DB77FD5C118B80511ADA8A6310ACC4672475C
KEY="$(dirname "${BASH_SOURCE[0]}")/aws-cli-team.asc"
tools="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/envstack-aws-cli"

version_of_aws() {  # "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22" -> 2.15.30
  local line
  line=$(aws --version 2>&1) || return 1
  line=${line%% *}
  echo "${line#aws-cli/}"
}

recent_enough() {  # $1 >= MINIMUM (version order)
  [ "$(printf '%s\n%s\n' "$MINIMUM" "$1" | sort -V | head -n 1)" = "$MINIMUM" ]
}

signed_by_aws() {  # $1 archive, $2 detached signature: a valid signature by the key of that fingerprint
  # gpgv checks against the given keyring only (no agent, no trust database, no key server); the key's
  # expiry does not matter (a valid signature is reported VALIDSIG whatever the key's expiry).
  local keyring status
  keyring=$(mktemp)
  gpg --dearmor < "$KEY" > "$keyring" || { rm -f "$keyring"; return 1; }
  status=$(gpgv --keyring "$keyring" --status-fd 1 "$2" "$1" 2> /dev/null) || true
  rm -f "$keyring"
  grep -q "^\[GNUPG:\] VALIDSIG $FINGERPRINT " <<< "$status"
}

stop() {
  echo "::error title=AWS CLI v2 >= $MINIMUM required::$1. pulumi-eks needs it on PATH (its kubeconfig runs \`aws eks get-token\`): install AWS CLI v2 on the runner (docs/delivery.md, Runners)"
  exit 1
}

if found=$(version_of_aws) && recent_enough "$found"; then
  echo "aws-cli $found (>= $MINIMUM)"
  exit 0
fi
why="found ${found:-no aws command}"
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/aarch64) arch=$(uname -m) ;;
  *) stop "$why, and this runner ($(uname -s)/$(uname -m)) cannot have it installed here" ;;
esac
for tool in curl unzip gpg gpgv; do
  command -v "$tool" > /dev/null || stop "$why, and installing it needs curl, unzip, gpg and gpgv (no $tool)"
done
echo "$why: installing the current AWS CLI v2 into $tools"
mkdir -p "$tools"
url="https://awscli.amazonaws.com/awscli-exe-linux-$arch.zip"
rm -rf "$tools/installer"
for file in "$url" "$url.sig"; do
  curl --proto '=https' --tlsv1.2 -sSfL "$file" -o "$tools/awscliv2.zip${file#"$url"}" \
    || stop "$why, and the download from awscli.amazonaws.com failed ($file)"
done
signed_by_aws "$tools/awscliv2.zip" "$tools/awscliv2.zip.sig" \
  || stop "$why, and the downloaded installer's PGP signature is not the AWS CLI Team's ($FINGERPRINT): not installed"
unzip -q -o "$tools/awscliv2.zip" -d "$tools/installer" || stop "$why, and the downloaded archive did not unpack"
"$tools/installer/aws/install" -i "$tools/dist" -b "$tools/bin" --update || stop "$why, and AWS's installer failed"
PATH="$tools/bin:$PATH"
found=$(version_of_aws) && recent_enough "$found" || stop "installed ${found:-nothing usable}"
echo "$tools/bin" >> "${GITHUB_PATH:-/dev/null}"
echo "aws-cli $found installed"
