PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('schema_version','2');
INSERT INTO meta VALUES('server:http://127.0.0.1:44973','{"MaxCharacters":1000,"URLLength":23,"MaxMedia":4,"DescriptionLimit":1500,"ImageSizeLimit":16777216,"ImageTypes":["image/jpeg","image/png","image/gif","image/heic","image/heif","image/webp","image/avif"],"Counting":"mastodon","Software":"mastodon","Version":"4.3.0","IdempotencyKeys":true,"SeenAt":"2026-12-01T21:49:33.515485323Z"}');
CREATE TABLE articles (
			id          TEXT PRIMARY KEY,
			state       TEXT NOT NULL,            -- posting, posted, failed, adopted
			hash        TEXT NOT NULL,            -- the file's hash when the thread was planned
			failed_hash TEXT NOT NULL DEFAULT '', -- the file's hash when it failed
			reason      TEXT NOT NULL DEFAULT '',
			head_url    TEXT NOT NULL DEFAULT '',
			updated_at  TEXT NOT NULL
		);
INSERT INTO articles VALUES('shehbaz-sharif-putin-letters','adopted','e592f7f57c2aa36b24b27c42ef55fa7d','','','','2026-12-01T21:49:33.381326143Z');
INSERT INTO articles VALUES('north-sea-wind-auction','posted','ba70a97c1c61f6dd8a55166797157fac','','','http://127.0.0.1:44973/@newsbot/100002','2026-12-01T21:49:33.453880452Z');
INSERT INTO articles VALUES('harbour-library-reopens','posted','0c0f698859f5f66ec0e05259089e36f2','','','http://127.0.0.1:44973/@newsbot/100006','2026-12-01T21:49:33.457509731Z');
INSERT INTO articles VALUES('city-budget-vote','failed','3ce9cda48f6ad1ae6728e88c3f91b5ca','3ce9cda48f6ad1ae6728e88c3f91b5ca','post 3: the server rejected the post: 422 Validation failed: Text character limit of 500 exceeded','http://127.0.0.1:44973/@newsbot/100010','2026-12-01T21:49:33.460300741Z');
INSERT INTO articles VALUES('fresh-story','posting','7b80543f12fd6f7eaa12b46864aafb0c','','','http://127.0.0.1:44973/@newsbot/100012','2026-12-01T21:49:33.519560193Z');
CREATE TABLE posts (
			article_id  TEXT NOT NULL REFERENCES articles(id),
			idx         INTEGER NOT NULL,
			text        TEXT NOT NULL,
			spoiler     TEXT NOT NULL,
			visibility  TEXT NOT NULL,
			language    TEXT NOT NULL,
			media_file  TEXT NOT NULL DEFAULT '',
			media_alt   TEXT NOT NULL DEFAULT '',
			idem_key    TEXT NOT NULL,
			attempted_at TEXT,                    -- set before sending: the outcome may be unknown
			status_id   TEXT,
			url         TEXT,
			posted_at   TEXT,
			PRIMARY KEY (article_id, idx)
		);
INSERT INTO posts VALUES('north-sea-wind-auction',0,replace('North Sea wind auction draws record bids as costs fall\n\nhttps://news.example.org/articles/north-sea-wind-auction\n\n#OffshoreWind #NorthSea #energy\n\n1/4','\n',char(10)),'','public','en','/tmp/TestWriteV2Fixture3141362988/001/articles/offshore-wind.png','Three white wind turbines standing in a calm blue sea under a clear sky','','2026-12-01T21:49:33.441964073Z','100002','http://127.0.0.1:44973/@newsbot/100002','2026-12-01T21:49:33.44516197Z');
INSERT INTO posts VALUES('north-sea-wind-auction',1,replace('Eleven consortia bid for four North Sea sites, the most since auctions began in 2015.\n\n2/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.447557445Z','100003','http://127.0.0.1:44973/@newsbot/100003','2026-12-01T21:49:33.448812715Z');
INSERT INTO posts VALUES('north-sea-wind-auction',2,replace('The winning strike price of 54 euros per megawatt-hour is 18% lower than last year''s.\n\n3/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.448955729Z','100004','http://127.0.0.1:44973/@newsbot/100004','2026-12-01T21:49:33.453097504Z');
INSERT INTO posts VALUES('north-sea-wind-auction',3,replace('Grid operators say new cables to shore must be approved by 2028 for the farms to connect on time.\n\n4/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.453250676Z','100005','http://127.0.0.1:44973/@newsbot/100005','2026-12-01T21:49:33.453771779Z');
INSERT INTO posts VALUES('harbour-library-reopens',0,replace('Harbour library reopens after two-year renovation\n\nhttps://news.example.org/articles/harbour-library-reopens\n\n#libraries\n\n1/4','\n',char(10)),'','public','en','','','','2026-12-01T21:49:33.454413233Z','100006','http://127.0.0.1:44973/@newsbot/100006','2026-12-01T21:49:33.455042562Z');
INSERT INTO posts VALUES('harbour-library-reopens',1,replace('The harbour library reopened on Saturday after a two-year renovation that added a children''s floor, a rooftop reading room and a repair café.\n\n2/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.455210626Z','100007','http://127.0.0.1:44973/@newsbot/100007','2026-12-01T21:49:33.455765372Z');
INSERT INTO posts VALUES('harbour-library-reopens',2,replace('The building, a former customs house from 1911, had been closed since a storm damaged its roof in 2024.\n\n3/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.455916571Z','100008','http://127.0.0.1:44973/@newsbot/100008','2026-12-01T21:49:33.456513279Z');
INSERT INTO posts VALUES('harbour-library-reopens',3,replace('"We wanted a library that is open to everyone, every day," the head librarian said at the opening, where more than two thousand visitors queued in the rain.\n\n4/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.456688344Z','100009','http://127.0.0.1:44973/@newsbot/100009','2026-12-01T21:49:33.457334346Z');
INSERT INTO posts VALUES('city-budget-vote',0,replace('City council passes 2027 budget after all-night session\n\nhttps://news.example.org/articles/city-budget-vote\n\n1/4','\n',char(10)),'','public','en','','','','2026-12-01T21:49:33.458221785Z','100010','http://127.0.0.1:44973/@newsbot/100010','2026-12-01T21:49:33.458869733Z');
INSERT INTO posts VALUES('city-budget-vote',1,replace('The council approved a 2.4 billion budget by 27 votes to 14 shortly after 6 a.m. on Friday.\n\n2/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.459009282Z','100011','http://127.0.0.1:44973/@newsbot/100011','2026-12-01T21:49:33.459487188Z');
INSERT INTO posts VALUES('city-budget-vote',2,replace('Spending on buses and trams rises by 11%, paid for by a new congestion charge on cars entering the old town on weekdays between 7 a.m. and 7 p.m., which the mayor says will raise 40 million a year. Opposition members called the charge a tax on commuters who have no other way to reach work, and said they would ask the regional court to review it. The mayor''s office said the charge had been reviewed by the city''s lawyers and would take effect on 1 March. Residents of the old town, delivery vans and taxis are exempt. The full text of the budget is at https://council.example.org/budget/2027/full-text-as-adopted.pdf.\n\n3/4','\n',char(10)),'','unlisted','en','','','',NULL,NULL,NULL,NULL);
INSERT INTO posts VALUES('city-budget-vote',3,replace('Libraries keep their Sunday opening hours after a petition signed by 12,000 residents.\n\n4/4','\n',char(10)),'','unlisted','en','','','',NULL,NULL,NULL,NULL);
INSERT INTO posts VALUES('fresh-story',0,replace('A fresh story\n\nhttps://news.example.org/articles/fresh-story\n\n1/4','\n',char(10)),'','public','en','','','','2026-12-01T21:49:33.51658701Z','100012','http://127.0.0.1:44973/@newsbot/100012','2026-12-01T21:49:33.519560193Z');
INSERT INTO posts VALUES('fresh-story',1,replace('One point.\n\n2/4','\n',char(10)),'','unlisted','en','','','','2026-12-01T21:49:33.51991305Z',NULL,NULL,NULL);
INSERT INTO posts VALUES('fresh-story',2,replace('Two points.\n\n3/4','\n',char(10)),'','unlisted','en','','','',NULL,NULL,NULL,NULL);
INSERT INTO posts VALUES('fresh-story',3,replace('Three points.\n\n4/4','\n',char(10)),'','unlisted','en','','','',NULL,NULL,NULL,NULL);
CREATE TABLE digests (
			id           INTEGER PRIMARY KEY,
			state        TEXT NOT NULL,           -- preparing, sending, done
			created_at   TEXT NOT NULL,
			completed_at TEXT
		, omitted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE digest_articles (
			digest_id  INTEGER NOT NULL REFERENCES digests(id),
			article_id TEXT NOT NULL,
			position   INTEGER NOT NULL,
			item       TEXT NOT NULL,             -- the article as mailed, JSON
			PRIMARY KEY (digest_id, article_id)
		);
CREATE TABLE deliveries (
			digest_id  INTEGER NOT NULL REFERENCES digests(id),
			email_key  TEXT NOT NULL,             -- lower-case address
			email      TEXT NOT NULL,
			fields     TEXT NOT NULL,             -- the subscriber row, JSON
			state      TEXT NOT NULL,             -- pending, sent, temp, failed
			attempts   INTEGER NOT NULL DEFAULT 0,
			reply      TEXT NOT NULL DEFAULT '',
			updated_at TEXT,
			PRIMARY KEY (digest_id, email_key)
		);
CREATE TABLE unsubscribes (email_key TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE digest_skips (
			article_id TEXT PRIMARY KEY,
			digest_id  INTEGER REFERENCES digests(id), -- NULL when adopted
			reason     TEXT NOT NULL,                  -- adopted, over_max_articles
			at         TEXT NOT NULL
		);
INSERT INTO digest_skips VALUES('shehbaz-sharif-putin-letters',NULL,'adopted','2026-12-01T21:49:33.381326143Z');
CREATE INDEX deliveries_state ON deliveries (digest_id, state);
COMMIT;
