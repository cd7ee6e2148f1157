//! User agents of bulk-download tools: a thief's favourite way out is a sync tool, not the
//! console. Matching is case-insensitive on substrings; the agent string is attacker-controlled
//! and only ever compared, never interpreted.

/// (substring to look for, name to report). Order matters: the first match wins.
const TOOLS: &[(&str, &str)] = &[
    ("command/s3.sync", "aws s3 sync"),
    ("command/s3.cp", "aws s3 cp"),
    ("command/s3.mv", "aws s3 mv"),
    ("rclone", "rclone"),
    ("s3cmd", "s3cmd"),
    ("s5cmd", "s5cmd"),
    ("cyberduck", "Cyberduck"),
    ("s3 browser", "S3 Browser"),
    ("s3browser", "S3 Browser"),
    ("minio (", "MinIO client"),
    ("minio-go", "MinIO client"),
    ("mc/", "MinIO client"),
    ("winscp", "WinSCP"),
    ("transmit", "Transmit"),
    ("forklift", "ForkLift"),
    ("mountain duck", "Mountain Duck"),
    ("goofys", "goofys"),
    ("s3fs", "s3fs"),
    ("mountpoint-s3", "Mountpoint for S3"),
    ("restic", "restic"),
    ("duplicati", "Duplicati"),
    ("curl/", "curl"),
    ("wget/", "wget"),
    ("python-requests", "python-requests"),
    ("python-urllib", "python-urllib"),
    ("go-http-client", "Go net/http"),
    ("powershell", "PowerShell"),
    ("aria2", "aria2"),
];

/// The bulk-download tool a user agent names, if any.
pub fn bulk_tool(user_agent: &str) -> Option<&'static str> {
    if user_agent.is_empty() {
        return None;
    }
    let ua = user_agent.to_ascii_lowercase();
    TOOLS
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_tools_and_leaves_sdks_alone() {
        assert_eq!(
            bulk_tool("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/s3.sync"),
            Some("aws s3 sync")
        );
        assert_eq!(bulk_tool("rclone/v1.65.0"), Some("rclone"));
        assert_eq!(bulk_tool("curl/8.4.0"), Some("curl"));
        assert_eq!(
            bulk_tool("MinIO (linux; amd64) minio-go/v7.0.63 mc/RELEASE.2023"),
            Some("MinIO client")
        );
        assert_eq!(
            bulk_tool("Cyberduck/8.7.1.40770 (Mac OS X/14.1) (x86_64)"),
            Some("Cyberduck")
        );
        assert_eq!(
            bulk_tool("[Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux]"),
            None
        );
        assert_eq!(bulk_tool("aws-sdk-java/2.20.0 Linux/5.10"), None);
        assert_eq!(bulk_tool("aws-cli/2.15.0 command/s3api.get-object"), None);
        assert_eq!(bulk_tool(""), None);
    }
}
