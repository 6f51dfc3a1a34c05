"""Images and audio that come with a message: which models see them and what an image costs (`vision`,
`image_tokens`), checking and sizing images (`images`), reading audio (`audio`) and transcribing it
(`transcription`). Adapters hand the bytes over in `Incoming.attachments`; /ask uses what is here."""
