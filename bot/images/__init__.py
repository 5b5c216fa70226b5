"""Images: validating what members and providers send, fitting results under the upload limit."""
