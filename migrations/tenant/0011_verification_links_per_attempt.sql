-- A verification link works from the moment it is minted, and a retried send adds a link instead of replacing one.
-- Until now a row was keyed by its task: a retry of a task whose email went out but whose "sent" mark was lost
-- replaced the token, so the link in the first email stopped working while a second email was on its way. Now each
-- attempt keeps its own row; the task's key only tells whether an attempt of that task was already sent.
ALTER TABLE client_email_verifications DROP CONSTRAINT client_email_verifications_task_key_key;
CREATE INDEX client_email_verifications_task ON client_email_verifications (task_key);
