#!/usr/bin/env bash
# AWS CLI v2 >= 2.7 on PATH, or a clear stop. pulumi-eks refuses an older one (nodejs/eks/dependencies.ts,
# assertCompatibleAWSCLIExists: minAWSCLIV2Version 2.7.0) and its kubeconfig runs `aws eks get-token` for every
# Kubernetes call of preview, up and refresh. Installed when missing or too old, on Linux x86_64/aarch64 with curl and
# unzip, from AWS's own download into the runner's tool directory (AWS CLI user guide, "Installing or updating to the
# latest version of the AWS CLI": `./aws/install -i DIR -b BIN`, no root needed).
set -euo pipefail
MINIMUM=2.7.0
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
command -v curl > /dev/null && command -v unzip > /dev/null || stop "$why, and installing it needs curl and unzip"
echo "$why: installing the current AWS CLI v2 into $tools"
mkdir -p "$tools"
curl --proto '=https' --tlsv1.2 -sSfL "https://awscli.amazonaws.com/awscli-exe-linux-$arch.zip" -o "$tools/awscliv2.zip" \
  || stop "$why, and the download from awscli.amazonaws.com failed"
unzip -q -o "$tools/awscliv2.zip" -d "$tools/installer" || stop "$why, and the downloaded archive did not unpack"
"$tools/installer/aws/install" -i "$tools/dist" -b "$tools/bin" --update || stop "$why, and AWS's installer failed"
PATH="$tools/bin:$PATH"
found=$(version_of_aws) && recent_enough "$found" || stop "installed ${found:-nothing usable}"
echo "$tools/bin" >> "${GITHUB_PATH:-/dev/null}"
echo "aws-cli $found installed"
